"""Speed of the built-in renderer and of the MP4 encoder, alone (no Django, no compliance stages).

Renders segments of a synthetic clone speaking synthetic audio and prints frames per second and
the real-time factor for each output size, then the same for `encode_mp4` on the rendered frames.

    .venv/bin/python benchmarks/renderer.py                       # 720p, 1080p, 9:16 on auto device
    .venv/bin/python benchmarks/renderer.py --sizes 1280x720 --device cpu --threads 2
    .venv/bin/python benchmarks/renderer.py --save-frames /tmp/frames   # PNGs to look at
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rendering import media  # noqa: E402
from rendering.backends import load_backend, resolve_device  # noqa: E402
from rendering.faces import normalise_portrait  # noqa: E402
from rendering.synthetic import speech_like_audio, synthetic_portrait  # noqa: E402


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_size(backend, prepared, audio, *, width, height, fps, frames_per_call, calls, encode, preset):
    device = prepared.device
    window = lambda first: media.audio_window(audio, first_frame_index=first, n_frames=frames_per_call, fps=fps)  # noqa: E731
    # Warm-up: builds the layout for this size and touches every code path once.
    backend.render(prepared, window(0), first_frame_index=0, n_frames=frames_per_call, fps=fps, width=width, height=height)
    synchronise(device)
    render_seconds = encode_seconds = 0.0
    encoded_bytes = 0
    for call in range(1, calls + 1):
        first = call * frames_per_call
        started = time.perf_counter()
        frames = backend.render(prepared, window(first), first_frame_index=first, n_frames=frames_per_call,
                                fps=fps, width=width, height=height)
        synchronise(device)
        render_seconds += time.perf_counter() - started
        if encode:
            started = time.perf_counter()
            encoded_bytes += len(media.encode_mp4(frames, window(first), fps=fps, preset=preset))
            encode_seconds += time.perf_counter() - started
    frames_total = frames_per_call * calls
    result = {
        "size": f"{width}x{height}",
        "render_fps": round(frames_total / render_seconds, 1),
        "render_seconds_per_call": round(render_seconds / calls, 4),
        "render_real_time_factor": round(frames_total / fps / render_seconds, 2),
    }
    if encode:
        result.update(
            encode_fps=round(frames_total / encode_seconds, 1),
            encode_seconds_per_call=round(encode_seconds / calls, 4),
            render_and_encode_real_time_factor=round(frames_total / fps / (render_seconds + encode_seconds), 2),
            kbit_per_second=round(encoded_bytes * 8 / 1000 / (frames_total / fps), 1),
        )
    return result


def save_frames(backend, prepared, audio, directory: Path, fps: int) -> list[Path]:
    """Closed mouth, open mouth and a blink in 16:9, and the open mouth in 9:16, as PNG files."""
    import cv2

    directory.mkdir(parents=True, exist_ok=True)
    n = int(len(audio) / media.AUDIO_SAMPLE_RATE * fps)
    params = backend.motion(prepared, audio, first_frame_index=0, n_frames=n, fps=fps)
    picks = {
        "closed": int((params["open"] + params["blink"]).argmin()),
        "open": int((params["open"] * (params["blink"] == 0)).argmax()),
        "blink": int(params["blink"].argmax()),
    }
    written = []
    for (width, height), names in (((1280, 720), ("closed", "open", "blink")), ((720, 1280), ("open",))):
        for name in names:
            index = picks[name]
            window = media.audio_window(audio, first_frame_index=index, n_frames=1, fps=fps)
            frame = backend.render(prepared, window, first_frame_index=index, n_frames=1, fps=fps,
                                   width=width, height=height)[0].to("cpu").numpy()
            path = directory / f"{name}-{width}x{height}.png"
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1280x720,1920x1080,720x1280", help="comma-separated WxH")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=50, help="frames per render call (one 2 s segment at 25 fps)")
    parser.add_argument("--calls", type=int, default=4, help="measured calls per size, after one warm-up")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-encode", action="store_true", help="measure the renderer only")
    parser.add_argument("--preset", default="veryfast", help="libx264 preset for the encode measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--save-frames", type=Path, help="write sample frames (PNG) to this folder")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    backend = load_backend("rendering.backends.portrait.PortraitAnimator")
    clone = normalise_portrait(synthetic_portrait(512, seed=3))
    prepared = backend.prepare(clone.image, clone.geometry, device=device)
    audio = speech_like_audio(args.frames / args.fps * (args.calls + 1) + 1.0, seed=7)
    machine = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    print(f"renderer {backend.name} {backend.version} on {device} ({machine['gpu'] or platform.processor() or 'cpu'}), "
          f"{machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads")
    results = []
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        result = bench_size(backend, prepared, audio, width=width, height=height, fps=args.fps,
                            frames_per_call=args.frames, calls=args.calls, encode=not args.no_encode,
                            preset=args.preset)
        results.append(result)
        line = (f"{result['size']}@{args.fps}: render {result['render_fps']:.0f} frames/s "
                f"({result['render_seconds_per_call']:.3f} s per {args.frames} frames, "
                f"{result['render_real_time_factor']:.1f}x real time)")
        if not args.no_encode:
            line += (f"; encode {result['encode_fps']:.0f} frames/s ({args.preset}); render+encode "
                     f"{result['render_and_encode_real_time_factor']:.2f}x real time, {result['kbit_per_second']:.0f} kbit/s")
        print(line)
    if args.save_frames:
        for path in save_frames(backend, prepared, audio[: 10 * media.AUDIO_SAMPLE_RATE], args.save_frames, args.fps):
            print(f"wrote {path}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
