"""Face, eye and mouth geometry from OpenCV's bundled Haar cascades (no downloaded weights).

`normalise_portrait` finds the largest frontal face in an image, crops a square head-and-shoulders
portrait around it, resizes it to a fixed size and measures the geometry the renderer needs.

Geometry is a JSON-ready dict in fractions of the portrait's width and height (so it survives
resizing):

    {"version": 1, "size": [W, H],
     "face": [x, y, w, h],                                  # box, top-left corner
     "left_eye": [cx, cy, w, h], "right_eye": [cx, cy, w, h],  # viewer's left / right
     "mouth": [cx, cy, w, h],
     "eyes_detected": bool, "detector": "..."}
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

GEOMETRY_VERSION = 1
DETECTOR = "opencv-haar:frontalface_default+eye"
DETECTION_SIDE = 360  # faces are searched on a copy this size: faster, and steadier for drawn faces
# The crop: the face box takes this share of the portrait's width; the face centre sits a bit above
# the middle, leaving room for the neck and shoulders below.
FACE_SHARE = 0.46
FACE_CENTRE_Y = 0.44


class FaceNotFoundError(ValueError):
    """No frontal face in the image; the message says what a usable reference photo looks like."""


@dataclass(frozen=True)
class NormalisedPortrait:
    image: np.ndarray  # (size, size, 3) RGB uint8
    geometry: dict


@lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's bundled cascade {path} is missing; install opencv-python-headless<5.")
    return cascade


def load_image(data: bytes) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, WebP, ...) to RGB uint8 (H, W, 3)."""
    if not data:
        raise ValueError("The image file is empty.")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("Not an image that can be decoded; upload a PNG or JPEG photo.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("The image must be a uint8 RGB array shaped (H, W, 3).")
    if min(image.shape[:2]) < 64:
        raise ValueError(f"The image is {image.shape[1]}x{image.shape[0]} px; a face needs at least 64 px.")
    return image


def detect_faces(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces as (x, y, w, h) boxes in image pixels, largest first."""
    image = _check_image(image)
    h, w = image.shape[:2]
    scale = min(1.0, DETECTION_SIDE / max(h, w))
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    side = min(gray.shape)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=3, minSize=(max(24, side // 8),) * 2
    )
    found = [tuple(int(round(v / scale)) for v in box) for box in boxes]
    return sorted(found, key=lambda b: b[2] * b[3], reverse=True)


def _find_eyes(gray: np.ndarray, face) -> list[tuple[float, float, float, float]] | None:
    """Two eyes (cx, cy, w, h) in the upper half of the face box, viewer's left first, or None.

    Candidates come from the plain eye cascade and the one trained with glasses; on each side the
    one nearest the usual place of an eye wins. When only one eye is found the other is its mirror
    image across the face's middle (the portrait is frontal).
    """
    x, y, w, h = face
    band = gray[y : y + int(h * 0.55), x : x + w]
    candidates = []
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        for ex, ey, ew, eh in _cascade(name).detectMultiScale(
            band, scaleFactor=1.1, minNeighbors=3, minSize=(max(8, w // 10),) * 2, maxSize=(w // 2,) * 2
        ):
            cx, cy = ex + ew / 2, ey + eh / 2
            if abs(cx - w / 2) >= 0.1 * w and 0.2 * h <= cy <= 0.5 * h:  # not the nose bridge, not a brow
                candidates.append((int(ex), int(ey), int(ew), int(eh)))
    usual = lambda side: lambda e: (e[0] + e[2] / 2 - side * w) ** 2 + (e[1] + e[3] / 2 - 0.38 * h) ** 2  # noqa: E731
    left = sorted((e for e in candidates if e[0] + e[2] / 2 < w / 2), key=usual(0.33))
    right = sorted((e for e in candidates if e[0] + e[2] / 2 >= w / 2), key=usual(0.67))
    if not left and not right:
        return None
    mirror = lambda e: (w - e[0] - e[2], e[1], e[2], e[3])  # noqa: E731
    first = left[0] if left else mirror(right[0])
    second = right[0] if right else mirror(left[0])
    result = []
    for ex, ey, ew, eh in (first, second):
        # The cascade's box spans brow to lower lid; the eye opening sits a little below its middle.
        result.append((x + ex + ew / 2, y + ey + eh * 0.56, ew * 0.9, eh * 0.55))
    if abs(result[0][1] - result[1][1]) > h * 0.12:  # not level: a false hit (eyebrow, nostril)
        return None
    return result


def _find_mouth(gray: np.ndarray, face) -> tuple[float, float, float, float]:
    """The mouth: the darkest row (the seam between the lips) in the lower face, centred."""
    x, y, w, h = face
    top, bottom = y + int(h * 0.68), y + int(h * 0.95)
    left, right = x + int(w * 0.33), x + int(w * 0.67)
    region = gray[top:bottom, left:right].astype(np.float32)
    if region.size == 0:
        return (x + w / 2, y + h * 0.8, w * 0.4, h * 0.14)
    profile = cv2.GaussianBlur(region.mean(axis=1).reshape(-1, 1), (1, 5), 0).ravel()
    seam = top + float(np.argmin(profile))
    return (x + w / 2, seam, w * 0.42, h * 0.16)


def face_geometry(image: np.ndarray) -> dict:
    """Geometry (see the module docstring) of the largest face in `image`."""
    image = _check_image(image)
    return _geometry(image, _largest_face(image))


def _largest_face(image: np.ndarray):
    faces = detect_faces(image)
    if not faces:
        raise FaceNotFoundError(
            "No frontal face found. Use a well-lit, front-facing photo with the whole face visible "
            "and no sunglasses or mask."
        )
    return faces[0]


def _geometry(image: np.ndarray, face) -> dict:
    height, width = image.shape[:2]
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    x, y, w, h = face
    eyes = _find_eyes(gray, face)
    detected = eyes is not None
    if eyes is None:  # typical proportions of a frontal face box
        eyes = [(x + w * 0.31, y + h * 0.40, w * 0.2, h * 0.09), (x + w * 0.69, y + h * 0.40, w * 0.2, h * 0.09)]
    mouth = _find_mouth(gray, face)
    fx = lambda v: round(float(v) / width, 5)  # noqa: E731
    fy = lambda v: round(float(v) / height, 5)  # noqa: E731
    box = lambda b: [fx(b[0]), fy(b[1]), fx(b[2]), fy(b[3])]  # noqa: E731
    return {
        "version": GEOMETRY_VERSION,
        "size": [width, height],
        "face": box(face),
        "left_eye": box(eyes[0]),
        "right_eye": box(eyes[1]),
        "mouth": box(mouth),
        "eyes_detected": detected,
        "detector": DETECTOR,
    }


def normalise_portrait(image: np.ndarray, size: int = 512) -> NormalisedPortrait:
    """Crop a square portrait around the largest face, resize it to `size`, and measure it.

    Raises FaceNotFoundError (a ValueError) when there is no usable frontal face.
    """
    if not isinstance(size, int) or not 128 <= size <= 2048:
        raise ValueError(f"size must be an integer between 128 and 2048; got {size!r}.")
    image = _check_image(image)
    x, y, w, h = _largest_face(image)
    side = w / FACE_SHARE
    left = x + w / 2 - side / 2
    top = y + h / 2 - side * FACE_CENTRE_Y
    scale = size / side
    # One affine warp crops, scales and pads (edge pixels repeated) where the crop leaves the photo.
    matrix = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], np.float32)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    portrait = cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    found = detect_faces(portrait)
    face = found[0] if found else (
        round((x - left) * scale), round((y - top) * scale), round(w * scale), round(h * scale)
    )
    return NormalisedPortrait(image=portrait, geometry=_geometry(portrait, face))


def check_geometry(geometry: dict) -> dict:
    """Validate a geometry dict (from `face_geometry`); returns it. ValueError says what is missing."""
    if not isinstance(geometry, dict):
        raise ValueError("Geometry must be a dict from rendering.faces.face_geometry / normalise_portrait.")
    for key in ("face", "left_eye", "right_eye", "mouth"):
        box = geometry.get(key)
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise ValueError(f"Geometry lacks {key!r} as four numbers; rebuild the clone to measure it again.")
        if not all(isinstance(v, (int, float)) and -0.5 <= v <= 1.5 for v in box) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"Geometry {key!r} {box} is not a box in fractions of the portrait.")
    return geometry
