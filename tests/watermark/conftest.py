"""Fixtures for the watermark engine: small synthetic frames (no real likeness), one marker."""
import pytest

from watermark import engine, wm_testmedia


@pytest.fixture(scope="module")
def marker():
    return engine.Watermarker()


@pytest.fixture(scope="module")
def face_clip():
    # 360p keeps interop with imwatermark (>= 256x256 pixels) and the tests fast.
    return wm_testmedia.frames("face", 6, 360, 640, seed=11)
