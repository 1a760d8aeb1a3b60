"""Face geometry and portrait normalisation with OpenCV's bundled cascades, on generated faces."""
import json

import cv2
import numpy as np
import pytest

from rendering.faces import FaceNotFoundError, detect_faces, face_geometry, load_image, normalise_portrait
from rendering.synthetic import synthetic_portrait


@pytest.mark.parametrize("seed", range(6))
def test_the_frontal_face_cascade_finds_every_synthetic_face(seed):
    image = synthetic_portrait(512, seed=seed)
    faces = detect_faces(image)
    assert faces, f"seed {seed}: no face found"
    x, y, w, h = faces[0]
    # The face is the drawn head, not some other blob: centred, about a third of the image wide.
    assert abs((x + w / 2) - 256) < 40 and 0.25 < w / 512 < 0.6


def test_geometry_is_plausible(clone_portrait):
    g = clone_portrait.geometry
    assert json.loads(json.dumps(g)) == g  # stored as is in Clone.geometry (a JSONField)
    assert g["size"] == [256, 256] and g["eyes_detected"]
    fx, fy, fw, fh = g["face"]
    (lx, ly, _, _), (rx, ry, _, _), (mx, my, mw, _) = g["left_eye"], g["right_eye"], g["mouth"]
    assert fx < lx < 0.5 < rx < fx + fw
    assert abs(ly - ry) < 0.03
    assert max(ly, ry) < my < fy + fh * 1.05
    assert abs(mx - 0.5) < 0.05 and 0.2 * fw < mw < 0.6 * fw


def test_normalise_centres_and_scales_a_face_found_anywhere():
    photo = np.full((600, 900, 3), 90, np.uint8)
    photo[120:520, 470:870] = synthetic_portrait(400, seed=2)
    portrait = normalise_portrait(photo, size=256)
    assert portrait.image.shape == (256, 256, 3) and portrait.image.dtype == np.uint8
    fx, fy, fw, fh = portrait.geometry["face"]
    assert abs(fx + fw / 2 - 0.5) < 0.05
    assert 0.35 < fw < 0.55  # the same framing whatever the photo


def test_a_photo_without_a_face_is_refused_with_advice():
    rng = np.random.default_rng(0)
    for image in (np.full((300, 300, 3), 128, np.uint8), rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)):
        with pytest.raises(FaceNotFoundError, match="front-facing photo"):
            normalise_portrait(image)
        with pytest.raises(ValueError):
            face_geometry(image)


def test_load_image_decodes_rgb_and_refuses_other_bytes():
    image = synthetic_portrait(128, seed=0)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    assert np.array_equal(load_image(png.tobytes()), image)
    with pytest.raises(ValueError, match="empty"):
        load_image(b"")
    with pytest.raises(ValueError, match="Not an image"):
        load_image(b"%PDF-1.7 not a picture")


@pytest.mark.parametrize("bad", [np.zeros((40, 40, 3), np.uint8), np.zeros((100, 100), np.uint8), "image.png"])
def test_bad_images_raise_value_error(bad):
    with pytest.raises(ValueError):
        normalise_portrait(bad)
