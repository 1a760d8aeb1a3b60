"""GB 45438 explicit label: size rule at every resolution, timing, blending, presence check."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from watermark.labels import (
    BADGE_TEXT,
    FONT_PATH,
    LABEL_TEXTS,
    MIN_TEXT_SHARE,
    ExplicitLabel,
    LabelError,
    render_overlay,
)

from .conftest import decode_mp4, encode_mp4, synthetic_frames

SIZES = [(640, 360), (854, 480), (1280, 720), (1920, 1080), (3840, 2160),
         (360, 640), (720, 1280), (1080, 1920), (2160, 3840)]


def ink_rows(overlay) -> list[int]:
    """Heights of the runs of rows that hold white letter pixels, measured on the rendered overlay."""
    rgba = np.asarray(overlay)
    bright = ((rgba[..., 0] > 128) & (rgba[..., 3] > 128)).any(axis=1)
    runs, length = [], 0
    for row in bright:
        if row:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    return runs + ([length] if length else [])


@pytest.mark.parametrize("width, height", SIZES)
@pytest.mark.parametrize("prominent", [True, False])
def test_text_is_at_least_five_percent_of_the_shortest_side(width, height, prominent):
    overlay, layout = render_overlay(width, height, prominent=prominent)
    lines = ink_rows(overlay)
    assert len(lines) == (2 if prominent else 1)
    assert min(lines) >= MIN_TEXT_SHARE * min(width, height)
    box = layout.boxes[0]
    assert 0 <= box.left and box.right <= width and 0 <= box.top and box.bottom <= height
    assert [text for text, _ in layout.texts] == (list(LABEL_TEXTS) if prominent else [BADGE_TEXT])


def test_label_texts_say_ai_generated():
    assert all("AI" in text and "生成" in text for text in LABEL_TEXTS)


def test_shipped_font_is_small_licensed_and_has_every_label_glyph():
    assert FONT_PATH.stat().st_size < 1_000_000
    assert "SIL OPEN FONT LICENSE" in (FONT_PATH.parent / "OFL.txt").read_text()
    font = ImageFont.truetype(str(FONT_PATH), 40)

    def drawn(char):
        image = Image.new("L", (60, 60))
        ImageDraw.Draw(image).text((5, 5), char, font=font, fill=255)
        return np.asarray(image)

    missing = drawn("龘")  # not in the subset: drawn as .notdef
    for char in set("".join(LABEL_TEXTS)) - {" "}:
        assert drawn(char).any() and not np.array_equal(drawn(char), missing), char


def test_banner_for_the_first_two_seconds_then_the_corner_badge():
    label = ExplicitLabel(640, 360, fps=5)  # 2 s = 10 frames
    frames = torch.from_numpy(synthetic_frames(640, 360, 14).copy())
    original = frames.clone()
    label.apply(frames[:6], first_frame_index=0)
    label.apply(frames[6:], first_frame_index=6)  # this batch straddles the 2-s boundary
    banner, badge = label.banner_layout.boxes[0], label.badge_layout.boxes[0]
    for i in range(14):
        layout = label.presence(frames[i].numpy())
        assert layout["present"] and layout["layout"] == ("banner" if i < 10 else "badge"), i
    # Pixels outside the overlay are untouched.
    outside = torch.ones(360, 640, dtype=torch.bool)
    outside[banner.top:banner.bottom, banner.left:banner.right] = False
    outside[badge.top:badge.bottom, badge.left:badge.right] = False
    assert torch.equal(frames[:, outside], original[:, outside])


def test_label_survives_h264_and_absence_is_detected():
    label = ExplicitLabel(640, 360, fps=25)
    clean = synthetic_frames(640, 360, 3)
    labelled = label.apply(torch.from_numpy(clean.copy()), first_frame_index=100).numpy()
    decoded = decode_mp4(encode_mp4(labelled))
    assert all(label.presence(frame)["present"] for frame in decoded)
    assert not any(label.presence(frame)["present"] for frame in clean)


def test_wrong_frames_are_refused():
    label = ExplicitLabel(640, 360, fps=25)
    with pytest.raises(LabelError):
        label.apply(torch.zeros(1, 360, 641, 3, dtype=torch.uint8), 0)
    with pytest.raises(LabelError):
        label.apply(torch.zeros(1, 360, 640, 3, dtype=torch.float32), 0)
    with pytest.raises(LabelError):
        ExplicitLabel(32, 32, fps=25)
