"""Cost of the compliance stages per 2-s segment: visible label, AIGC metadata, C2PA signing.

    .venv/bin/python benchmarks/provenance.py [--sizes 1280x720,1920x1080] [--fps 25] [--repeat 5] [--json]

Torch runs on one thread (torch.set_num_threads(1)); c2pa signs on the calling thread. Frames are
synthetic (gradients plus noise, so the H.264 file has a livestream-like size); the MP4 is encoded
once, outside the measurement. Shares are of the segment's real-time budget (2 s of video).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from watermark.aigc import AigcLabel, write_mp4_aigc  # noqa: E402
from watermark.credentials import generate_dev_credentials  # noqa: E402
from watermark.labels import ExplicitLabel  # noqa: E402
from watermark.provenance import ProvenanceSigner, SegmentInfo, SoftBindingBlock, SoftwareAgent  # noqa: E402
from watermark.verify import verify_file  # noqa: E402


def frames_for(width: int, height: int, count: int) -> torch.Tensor:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 255, y / height * 255, np.full_like(x, 128)], -1)
    out = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        noise = rng.normal(0, 12, (height // 4, width // 4, 1)).repeat(4, 0).repeat(4, 1)
        out[i] = np.clip(base + noise + i, 0, 255)
    return torch.from_numpy(out)


def encode(frames: torch.Tensor, fps: int) -> bytes:
    buf = io.BytesIO()
    _, height, width, _ = frames.shape
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames.numpy():
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def timed(fn, repeat: int) -> float:
    """Fastest of `repeat` runs in milliseconds, after one warm-up run: on a shared machine the
    minimum is the best estimate of the uncontended cost."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples)


def measure(width: int, height: int, fps: int, seconds: float, repeat: int, signer, anchors: str) -> dict:
    count = round(fps * seconds)
    frames = frames_for(width, height, count)
    mp4 = encode(frames, fps)
    init_ms = timed(lambda: ExplicitLabel(width, height, fps), 1)
    label = ExplicitLabel(width, height, fps)
    # Badge (every frame after the first 2 s) and banner (the opening 2 s) on a full segment batch,
    # blended in place as the pipeline does (repeated blending costs the same as the first).
    badge_ms = timed(lambda: label.apply(frames, first_frame_index=10_000), repeat)
    banner_ms = timed(lambda: label.apply(frames, first_frame_index=0), repeat)
    aigc = AigcLabel(content_producer="Consentframe", produce_id="stream-1/segment-9")
    aigc_ms = timed(lambda: write_mp4_aigc(mp4, aigc), repeat)
    info = SegmentInfo(
        license_id=1, consent_grant_id=1, consent_document_version="1", talent_display_name="Synthetic Host",
        brand_name="Acme", platform="douyin", aigc=aigc, software_agent=SoftwareAgent("portrait", "1"),
        watermark_algorithm="org.consentframe.wm.v1",
        soft_bindings=tuple(SoftBindingBlock(i / fps, (i + 1) / fps, f"{1:08x}{9:05x}{i:02x}") for i in range(count)),
        stream_id=1, sequence=9, previous_manifest_id="urn:c2pa:00000000-0000-0000-0000-000000000000",
    )
    labelled = write_mp4_aigc(mp4, aigc)
    sign_ms = timed(lambda: signer.sign_segment(labelled, info), repeat)
    signed = signer.sign_segment(labelled, info).data
    verify_ms = timed(lambda: verify_file(signed, trust_anchors_pem=anchors, check_media=False), repeat)
    verify_full_ms = timed(lambda: verify_file(signed, trust_anchors_pem=anchors), 1)
    budget_ms = seconds * 1000
    # Every segment but the opening one carries the badge; the opening 2 s carry the banner.
    steady_ms = badge_ms + aigc_ms + sign_ms
    opening_ms = banner_ms + aigc_ms + sign_ms
    return {
        "size": f"{width}x{height}", "fps": fps, "frames": count, "mp4_bytes": len(mp4),
        "label_overlay_init_ms": round(init_ms, 2),
        "label_badge_per_frame_ms": round(badge_ms / count, 3),
        "label_banner_per_frame_ms": round(banner_ms / count, 3),
        "aigc_write_ms": round(aigc_ms, 3),
        "sign_segment_ms": round(sign_ms, 2),
        "verify_c2pa_aigc_ms": round(verify_ms, 2),
        "verify_full_ms_incl_decode_and_watermark": round(verify_full_ms, 1),
        "compliance_ms_per_segment": round(steady_ms, 2),
        "compliance_share_of_real_time_percent": round(100 * steady_ms / budget_ms, 3),
        "opening_segment_compliance_share_percent": round(100 * opening_ms / budget_ms, 3),
        "verify_share_of_real_time_percent": round(100 * verify_ms / budget_ms, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dev = generate_dev_credentials()
    signer = ProvenanceSigner(dev.credentials)
    rows = [
        measure(*map(int, size.split("x")), args.fps, args.seconds, args.repeat, signer, dev.ca_cert_pem)
        for size in args.sizes.split(",")
    ]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch threads 1"
    if args.json:
        print(json.dumps({"machine": machine, "results": rows}, indent=2))
        return
    print(f"machine: {machine}")
    for row in rows:
        print(f"\n{row['size']} @ {row['fps']} fps, {row['frames']} frames, MP4 {row['mp4_bytes'] / 1e6:.2f} MB")
        for key, value in row.items():
            if key not in ("size", "fps", "frames", "mp4_bytes"):
                print(f"  {key:42s} {value}")


if __name__ == "__main__":
    main()
