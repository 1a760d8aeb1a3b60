"""Real-time factor of the per-segment pipeline and each stage's share of it.

    .venv/bin/python benchmarks/pipeline.py                       # 720p25 and 1080p25, 2-s segments
    .venv/bin/python benchmarks/pipeline.py --sizes 1280x720 --segments 5 --device cuda
    .venv/bin/python benchmarks/pipeline.py --sizes 1920x1080 --device cuda --streams 20   # the H100 target

Runs the production code (`rendering.pipeline.SegmentProducer`: render → label → watermark →
encode → AIGC → C2PA sign) on a synthetic face and speech-like audio, plus the store step (write
and fsync the signed segment). No database: the stream is an unsaved model instance. Real-time
factor = media seconds produced / wall seconds spent; ≥ 1 means one stream keeps up with real time.
The first segment of each size is a warm-up and is not counted. Results go to stdout and, as JSON,
to benchmarks/results/pipeline-<device>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Keys and credentials of a benchmark run never mix with a developer's data folder.
os.environ.setdefault("CONSENTFRAME_DATA_DIR", tempfile.mkdtemp(prefix="cf-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.conf import settings  # noqa: E402

from rendering import faces, media, pipeline  # noqa: E402
from rendering.backends import resolve_device  # noqa: E402
from rendering.models import Stream  # noqa: E402
from rendering.synthetic import speech_like_audio, synthetic_portrait  # noqa: E402
from watermark.engine import ALGORITHM_NAME  # noqa: E402
from watermark.provenance import SoftwareAgent  # noqa: E402

from benchmarks.concurrency import run_streams  # noqa: E402

COMPLIANCE_STAGES = ("label", "watermark", "aigc", "sign")


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def bench_size(producer, prepared, *, width: int, height: int, fps: int, segment_seconds: float, segments: int,
               store_dir: Path, after_warmup=None) -> dict:
    audio_seconds = segment_seconds * (segments + 1)
    stream = Stream(pk=1, width=width, height=height, fps=fps, segment_seconds=segment_seconds,
                    audio_seconds=audio_seconds, platform="douyin")
    audio = speech_like_audio(audio_seconds, seed=7)
    info = dict(license_id=1, consent_grant_id=1, consent_document_version="bench", talent_display_name="Synthetic",
                brand_name="Benchmark", platform="douyin", software_agent=SoftwareAgent(
                    name=pipeline.backend().name, version=pipeline.backend().version),
                watermark_algorithm=ALGORITHM_NAME)
    totals = dict.fromkeys(pipeline.STAGES, 0.0)
    media_seconds = wall = 0.0
    previous = None
    for sequence in range(segments + 1):
        first, end = stream.frame_range(sequence)
        window = media.audio_window(audio, first_frame_index=first, n_frames=end - first, fps=fps)
        started = time.perf_counter()
        produced = producer.produce(stream=stream, sequence=sequence, audio=window, prepared=prepared,
                                    previous_manifest_id=previous, info_base=info)
        t = time.perf_counter()
        path = store_dir / f"segment-{sequence:06d}.mp4"
        with open(path, "wb") as fh:
            fh.write(produced.data)
            fh.flush()
            os.fsync(fh.fileno())
        produced.timings["store"] = time.perf_counter() - t
        elapsed = time.perf_counter() - started
        previous = produced.manifest_id
        if sequence == 0:
            if after_warmup:
                after_warmup()
            continue  # warm-up: layouts, label overlays, codec start
        wall += elapsed
        media_seconds += produced.end_seconds - produced.start_seconds
        for stage, seconds in produced.timings.items():
            totals[stage] += seconds
    budget = media_seconds  # the frame budget of real time is the media's own duration
    return {
        "size": f"{width}x{height}", "fps": fps, "segment_seconds": segment_seconds, "segments": segments,
        "media_seconds": round(media_seconds, 3), "wall_seconds": round(wall, 3),
        "real_time_factor": round(media_seconds / wall, 3),
        "ms_per_frame": round(1000 * wall / (media_seconds * fps), 2),
        "stages_seconds": {k: round(v, 4) for k, v in totals.items()},
        "stage_share_of_pipeline": {k: round(v / wall, 4) for k, v in totals.items()},
        "compliance_share_of_frame_budget": round(sum(totals[k] for k in COMPLIANCE_STAGES) / budget, 4),
        "segment_bytes": len(produced.data),
    }


def _stream_process(index: int, args: argparse.Namespace, barrier, results) -> None:
    """One of --streams concurrent streams: its own process, as a Celery worker process would be."""
    torch.set_num_threads(args.threads or 1)
    dev = resolve_device(args.device)
    portrait = faces.normalise_portrait(synthetic_portrait(size=512, seed=3 + index))
    prepared = pipeline.backend().prepare(portrait.image, portrait.geometry, device=dev)
    width, height = parse_size(args.sizes.split(",")[0])
    with tempfile.TemporaryDirectory(prefix="cf-bench-store-") as store:
        # Every stream finishes its warm-up before any starts the measured segments.
        result = bench_size(pipeline.SegmentProducer(dev=dev), prepared, width=width, height=height, fps=args.fps,
                            segment_seconds=args.segment_seconds, segments=args.segments, store_dir=Path(store),
                            after_warmup=barrier.wait)
    results.put((index, result))


def concurrent(args: argparse.Namespace) -> dict:
    """Run --streams streams at once (first size only); each must keep up with real time."""
    rows = run_streams(_stream_process, args, args.streams)
    factors = [rows[i]["real_time_factor"] for i in sorted(rows)]
    return {
        "size": rows[0]["size"], "streams": args.streams, "per_stream_real_time_factor": factors,
        "min_real_time_factor": min(factors), "streams_keeping_up": sum(f >= 1 for f in factors),
        "aggregate_frames_per_second": round(sum(f * args.fps for f in factors), 1),
        "compliance_share_of_frame_budget_max": max(r["compliance_share_of_frame_budget"] for r in rows.values()),
        "streams_detail": [rows[i] for i in sorted(rows)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WxH")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--segments", type=int, default=3, help="measured segments per size (after one warm-up)")
    parser.add_argument("--device", default=settings.RENDER_DEVICE, help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--streams", type=int, default=1,
                        help="run this many streams at once, each in its own process (first size only); "
                             "torch threads per process: --threads, else 1")
    args = parser.parse_args()

    if args.streams > 1:
        result = concurrent(args)
        print(f"{args.streams} concurrent streams of {result['size']}@{args.fps} on {resolve_device(args.device)}: "
              f"{result['streams_keeping_up']} keep up with real time; per-stream real-time factors "
              f"{result['per_stream_real_time_factor']} (min {result['min_real_time_factor']:.2f}); "
              f"{result['aggregate_frames_per_second']} frames/s in all")
        out_dir = ROOT / "benchmarks" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"pipeline-{resolve_device(args.device).type}-x{args.streams}.json"
        out.write_text(json.dumps({"cpu_count": os.cpu_count(), "platform": platform.platform(), **result}, indent=2))
        print(f"wrote {out.relative_to(ROOT)}")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    portrait = faces.normalise_portrait(synthetic_portrait(size=512, seed=3))
    prepared = pipeline.backend().prepare(portrait.image, portrait.geometry, device=dev)
    producer = pipeline.SegmentProducer(dev=dev)
    machine = {
        "device": str(dev), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="cf-bench-store-") as store:
        for size in args.sizes.split(","):
            width, height = parse_size(size)
            result = bench_size(producer, prepared, width=width, height=height, fps=args.fps,
                                segment_seconds=args.segment_seconds, segments=args.segments, store_dir=Path(store))
            results.append(result)
            shares = " ".join(f"{k}={v:.0%}" for k, v in result["stage_share_of_pipeline"].items())
            print(f"{result['size']}@{args.fps} on {dev}: real-time factor {result['real_time_factor']:.2f} "
                  f"({result['ms_per_frame']:.1f} ms/frame); compliance (label+watermark+AIGC+sign) "
                  f"{result['compliance_share_of_frame_budget']:.1%} of the frame budget")
            print(f"    stage shares: {shares}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"pipeline-{dev.type}.json"
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
