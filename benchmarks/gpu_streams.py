"""How many concurrent streams one host sustains: the GPU stages of the pipeline (render, visible
label, watermark) on the device, H.264/AAC encoding on the CPU, each stream in its own process.

    .venv/bin/python benchmarks/gpu_streams.py --size 1920x1080 --streams 20 --device cuda   # the H100 target
    .venv/bin/python benchmarks/gpu_streams.py --size 1280x720 --streams 3 --device cpu      # this 2-core box

No Django: it needs only torch, OpenCV, Pillow and PyAV, so it runs on a bare GPU machine (carry
PyAV's wheel there; docs/rendering.md). Where that machine's OpenCV is 5.x (no Haar cascades), make
the portraits here with `--save-portraits benchmarks/results/portraits.npz` and pass `--portraits`.
Left out against `benchmarks/pipeline.py`: the gate, the AIGC label, C2PA signing and storage, all
on the CPU and together under 1 % of the frame budget there. Every stream warms up one segment before any is timed; a stream keeps up when its
real-time factor (media seconds / wall seconds) is >= 1. Writes
benchmarks/results/gpu-streams-<device>-x<N>-<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rendering import media  # noqa: E402
from rendering.backends import load_backend, resolve_device  # noqa: E402
from rendering.faces import NormalisedPortrait, normalise_portrait  # noqa: E402
from rendering.synthetic import speech_like_audio, synthetic_portrait  # noqa: E402
from watermark.engine import Watermarker  # noqa: E402
from watermark.labels import label_for  # noqa: E402

from benchmarks.concurrency import run_streams  # noqa: E402

BACKEND = "rendering.backends.portrait.PortraitAnimator"
STAGES = ("render", "label", "watermark", "encode")


def one_stream(index: int, args: argparse.Namespace, barrier, results) -> None:
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    width, height = (int(v) for v in args.size.lower().split("x"))
    n = round(args.fps * args.segment_seconds)
    backend, marker, label = load_backend(BACKEND), Watermarker(), label_for(width, height, args.fps, dev)
    portrait = load_portrait(index, args.portraits)
    prepared = backend.prepare(portrait.image, portrait.geometry, device=dev)
    audio = speech_like_audio(args.segment_seconds * (args.segments + 1), seed=7 + index)
    totals, wall = dict.fromkeys(STAGES, 0.0), 0.0

    def mark(stage: str, since: float) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        now = time.perf_counter()
        totals[stage] += now - since
        return now

    for sequence in range(args.segments + 1):
        if sequence == 1:
            barrier.wait()  # every stream has warmed up: layouts, label overlays, codec start
            totals, wall = dict.fromkeys(STAGES, 0.0), 0.0
        first = sequence * n
        window = media.audio_window(audio, first_frame_index=first, n_frames=n, fps=args.fps)
        started = t = time.perf_counter()
        frames = backend.render(prepared, window, first_frame_index=first, n_frames=n, fps=args.fps,
                                width=width, height=height)
        t = mark("render", t)
        frames = label.apply(frames, first)
        t = mark("label", t)
        frames = marker.embed_segment(frames, stream_id=index + 1, segment=sequence, out=frames)
        t = mark("watermark", t)
        media.encode_mp4(frames, window, fps=args.fps, preset=args.preset)
        mark("encode", t)
        wall += time.perf_counter() - started
    media_seconds = args.segments * n / args.fps
    results.put((index, {
        "real_time_factor": round(media_seconds / wall, 3),
        "ms_per_frame": {k: round(1000 * v / (args.segments * n), 2) for k, v in totals.items()},
    }))


def make_portrait(index: int) -> NormalisedPortrait:
    return normalise_portrait(synthetic_portrait(size=512, seed=3 + index))


def load_portrait(index: int, path: str | None) -> NormalisedPortrait:
    """Stream `index`'s portrait, made here or read from a --save-portraits file (a GPU machine whose
    OpenCV 5 has no Haar cascades cannot find the face itself)."""
    if not path:
        return make_portrait(index)
    with np.load(path) as saved:
        if f"image{index}" not in saved:
            raise SystemExit(f"{path} holds fewer portraits than --streams: make it with --save-portraits again")
        return NormalisedPortrait(image=saved[f"image{index}"], geometry=json.loads(str(saved[f"geometry{index}"])))


def save_portraits(path: str, count: int) -> None:
    made = [make_portrait(i) for i in range(count)]
    np.savez_compressed(path, **{f"image{i}": p.image for i, p in enumerate(made)},
                        **{f"geometry{i}": json.dumps(p.geometry) for i, p in enumerate(made)})
    print(f"wrote {count} portraits to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1920x1080", help="WxH")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--segments", type=int, default=3, help="measured segments per stream (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per stream process")
    parser.add_argument("--preset", default="veryfast", help="libx264 preset (the pipeline's: veryfast)")
    parser.add_argument("--portraits", help="read the streams' portraits from this file instead of making them")
    parser.add_argument("--save-portraits", metavar="PATH", help="make --streams portraits, write them to PATH, stop")
    args = parser.parse_args()
    if args.streams < 1 or args.segments < 1:
        parser.error("--streams and --segments must be at least 1")
    if args.save_portraits:
        save_portraits(args.save_portraits, args.streams)
        return 0

    rows = run_streams(one_stream, args, args.streams)
    factors = [rows[i]["real_time_factor"] for i in sorted(rows)]
    dev = resolve_device(args.device)
    summary = {
        "size": args.size, "fps": args.fps, "streams": args.streams, "device": str(dev), "preset": args.preset,
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
        "per_stream_real_time_factor": factors, "streams_keeping_up": sum(f >= 1 for f in factors),
        "min_real_time_factor": min(factors),
        "ms_per_frame_by_stage_mean": {
            k: round(sum(r["ms_per_frame"][k] for r in rows.values()) / len(rows), 2) for k in STAGES},
    }
    print(f"{args.streams} concurrent streams of {args.size}@{args.fps} (x264 {args.preset}) on {dev}"
          f"{' (' + summary['gpu'] + ')' if summary['gpu'] else ''}: {summary['streams_keeping_up']} keep up; "
          f"real-time factor min {summary['min_real_time_factor']:.2f}, all {factors}")
    print("    mean ms per frame and stream: " + " ".join(
        f"{k}={v}" for k, v in summary["ms_per_frame_by_stage_mean"].items()))
    out = ROOT / "benchmarks" / "results" / f"gpu-streams-{dev.type}-x{args.streams}-{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if summary["streams_keeping_up"] == args.streams else 1


if __name__ == "__main__":
    sys.exit(main())
