"""Fixtures for provenance and labels: one CA per test session, tiny synthetic MP4s and images."""
from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from watermark.aigc import AigcLabel
from watermark.credentials import generate_dev_credentials
from watermark.provenance import ProvenanceSigner, SegmentInfo, SoftBindingBlock, SoftwareAgent, StillInfo


@pytest.fixture(scope="session")
def dev():
    return generate_dev_credentials()


@pytest.fixture(scope="session")
def signer(dev):
    return ProvenanceSigner(dev.credentials)


def synthetic_frames(width: int, height: int, count: int) -> np.ndarray:
    """Moving colour gradients: no likeness, but enough texture for a codec and a watermark."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        r = (x / width * 255 + i * 7) % 256
        g = (y / height * 255 + i * 3) % 256
        b = 128 + 60 * np.sin((x + y + 5 * i) / 11.0)
        frames.append(np.stack([r, g, b], -1).astype(np.uint8))
    return np.stack(frames)


def encode_mp4(frames: np.ndarray, fps: int = 25, *, faststart_path=None) -> bytes:
    """H.264 MP4 from RGB frames. With `faststart_path`, the moov box is written before the mdat."""
    height, width = frames.shape[1:3]
    target = faststart_path or io.BytesIO()
    options = {"movflags": "faststart"} if faststart_path else {}
    with av.open(target, "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return faststart_path.read_bytes() if faststart_path else target.getvalue()


def decode_mp4(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def encode_image(array: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, quality=95) if fmt == "JPEG" else Image.fromarray(array).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def tiny_mp4():
    return encode_mp4(synthetic_frames(64, 64, 5))


def content(**overrides) -> dict:
    values = dict(
        license_id=11,
        consent_grant_id=7,
        consent_document_version="2026-01",
        talent_display_name="Synthetic Host",
        brand_name="Acme Tea",
        platform="douyin",
        aigc=AigcLabel(content_producer="Consentframe", produce_id="stream-3/segment-0"),
        software_agent=SoftwareAgent("portrait-animator", "1.2"),
        watermark_algorithm="org.consentframe.wm.v1",
    )
    values.update(overrides)
    return values


def blocks(count: int, *, stream_id: int = 3, segment: int = 0, fps: int = 25) -> tuple[SoftBindingBlock, ...]:
    return tuple(
        SoftBindingBlock(i / fps, (i + 1) / fps, f"{stream_id:08x}{segment:05x}{i:02x}") for i in range(count)
    )


def segment_info(sequence: int = 0, previous: str | None = None, frames: int = 5, **overrides) -> SegmentInfo:
    return SegmentInfo(
        **content(**overrides), soft_bindings=blocks(frames, segment=sequence), stream_id=3, sequence=sequence,
        previous_manifest_id=previous,
    )


def still_info(**overrides) -> StillInfo:
    return StillInfo(**content(**overrides), soft_bindings=blocks(1), stream_id=3, sequence=0, frame_index=2)
