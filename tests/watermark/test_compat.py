import cv2
import numpy as np
import pytest
import torch
from imwatermark import WatermarkDecoder

from watermark import compat, wm_testmedia

DATA = b"CF\x01\x02\xa5\x5a\x10\x20"


@pytest.mark.parametrize("kind", wm_testmedia.KINDS)
def test_imwatermark_reads_our_dwtdct(kind):
    frames = wm_testmedia.frames(kind, 2, 360, 640, seed=3)
    marked = compat.embed(frames, DATA)
    for frame in marked:
        bgr = cv2.cvtColor(frame.numpy(), cv2.COLOR_RGB2BGR)
        assert WatermarkDecoder("bytes", 8 * len(DATA)).decode(bgr, "dwtDct") == DATA
        assert compat.decode(frame, len(DATA)) == DATA
    # Chroma-only change: luminance (Y) moves by rounding (and rare clipping) alone.
    y = torch.tensor([0.299, 0.587, 0.114])
    assert ((marked.float() @ y) - (frames.float() @ y)).abs().mean() < 0.3


def test_unmarked_or_flat_frames_decode_to_nothing():
    flat = torch.full((360, 640, 3), 128, dtype=torch.uint8)
    assert compat.decode(flat, len(DATA)) is None


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\xff"])
def test_degenerate_content_is_refused(data):
    with pytest.raises(ValueError, match="dwtDct content"):
        compat.embed(torch.zeros(1, 360, 640, 3, dtype=torch.uint8), data)


def test_small_frames_are_refused():
    with pytest.raises(ValueError, match="256x256"):
        compat.embed(torch.zeros(1, 200, 300, 3, dtype=torch.uint8), DATA)
    with pytest.raises(ValueError, match="uint8"):
        compat.decode(np.zeros((360, 640, 3), np.float32), 1)
