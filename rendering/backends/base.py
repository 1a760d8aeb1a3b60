"""The renderer protocol: prepare a clone once, then render frames for audio windows.

A backend turns a normalised portrait (see `rendering.faces.normalise_portrait`) and a window of
audio into video frames. The pipeline calls `prepare` once per stream and `render` once per
segment; `render` must be deterministic for the same inputs and continuous across calls, so that
segment k+1 (given its `first_frame_index`) carries on the head motion and blinks of segment k.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

AUDIO_SAMPLE_RATE = 16_000  # what `render` receives: mono float32 PCM in [-1, 1]


@dataclass
class PreparedClone:
    """What `prepare` returns; backends subclass it with their precomputed state."""

    backend: str
    version: str
    device: torch.device


@runtime_checkable
class RendererBackend(Protocol):
    name: str
    version: str

    def prepare(self, portrait: np.ndarray, geometry: dict, *, device) -> PreparedClone:
        """Precompute what every segment needs from the portrait ((H, W, 3) RGB uint8)."""
        ...

    def render(
        self,
        prepared: PreparedClone,
        audio_window: np.ndarray,
        *,
        first_frame_index: int,
        n_frames: int,
        fps: int,
        width: int,
        height: int,
    ) -> torch.Tensor:
        """Frames `first_frame_index .. first_frame_index + n_frames - 1` as (N, H, W, 3) uint8 RGB.

        `audio_window` is the audio of exactly those frames (16 kHz mono float32, starting at the
        first frame's time); a shorter window is treated as silence at its end.
        """
        ...


def resolve_device(device) -> torch.device:
    """"auto" (or None) → CUDA when present, else CPU; anything else as torch understands it."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_portrait(portrait) -> np.ndarray:
    if not isinstance(portrait, np.ndarray) or portrait.dtype != np.uint8:
        raise ValueError("The portrait must be a numpy uint8 array (H, W, 3) in RGB order.")
    if portrait.ndim != 3 or portrait.shape[2] != 3 or min(portrait.shape[:2]) < 32:
        raise ValueError(
            f"The portrait must be an RGB image shaped (H, W, 3) with sides of at least 32 px; got {portrait.shape}."
        )
    return portrait


def is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_render_request(audio_window, *, first_frame_index, n_frames, fps, width, height) -> np.ndarray:
    """Validate `render`'s arguments; returns the audio as a 1-D float32 array."""
    if not is_integer(n_frames) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer; got {n_frames!r}.")
    if not is_integer(first_frame_index) or first_frame_index < 0:
        raise ValueError(f"first_frame_index must be an integer ≥ 0; got {first_frame_index!r}.")
    if not is_integer(fps) or not 1 <= fps <= 120:
        raise ValueError(f"fps must be an integer between 1 and 120; got {fps!r}.")
    for label, value in (("width", width), ("height", height)):
        if not is_integer(value) or not 64 <= value <= 4096:
            raise ValueError(f"{label} must be an integer between 64 and 4096; got {value!r}.")
    audio = np.asarray(audio_window)
    if audio.ndim != 1:
        raise ValueError(f"audio_window must be mono, a 1-D array of samples; got shape {audio.shape}.")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"audio_window must hold float PCM in [-1, 1]; got dtype {audio.dtype}.")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise ValueError("audio_window holds NaN or infinite samples.")
    return audio
