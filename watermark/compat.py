"""imwatermark-compatible mode: the `dwtDct` scheme of invisible-watermark 0.2.0, vectorised in torch.

Frames marked here are read by the existing ecosystem's decoder::

    imwatermark.WatermarkDecoder("bytes", 8 * len(data)).decode(bgr, "dwtDct")

The scheme (as imwatermark implements it): take the U channel of OpenCV's BGR->YUV, its Haar LL band
(each 2x2 cell's sum / 2), split LL into 4x4 blocks (8x8 pixels) and, in each block, quantise the
largest-magnitude coefficient other than the first with step 36 (value mod 36 near 9 -> 0, near 27 ->
1); bits repeat over blocks in raster order and the decoder averages per bit. Two differences from
imwatermark's encoder, both invisible to its decoder: the detail bands are left as they are (its
encoder swaps H and V, transposing every 2x2 chroma cell), and a quantised value that would stop
being its block's maximum is raised by whole steps until it stays the maximum (otherwise ~35 % of
bit-0 blocks read wrong).

This mode is fragile by design (chroma only, so 4:2:0 JPEG or H.264 erase it): use it only where
imwatermark readers must see the mark, next to the robust default in :mod:`watermark.engine`.
"""
from __future__ import annotations

import numpy as np
import torch

from .engine import _luma

SCALE = 36.0
_MIN_PIXELS = 256 * 256  # imwatermark refuses smaller images
# Keep the quantised value this far above the block's runner-up, for rounding in RGB and YUV.
_MARGIN = 3.0


def _check(frames: torch.Tensor, batched: bool) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"frames must be a torch.Tensor or numpy array, got {type(frames).__name__}")
    want = 4 if batched else 3
    if frames.ndim != want or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped {'(N, H, W, 3)' if batched else '(H, W, 3)'} RGB, got {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 RGB (0-255), got {frames.dtype}")
    h, w = frames.shape[-3], frames.shape[-2]
    if h * w < _MIN_PIXELS:
        raise ValueError(f"frame {w}x{h} is too small for dwtDct: imwatermark needs at least 256x256 pixels")
    return frames


def _bits_of(data: bytes) -> torch.Tensor:
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError("dwtDct content must be non-empty bytes")
    if not any(data) or all(b == 0xFF for b in data):
        raise ValueError("dwtDct content must not be all zero or all one bits: readers treat those as 'no mark'")
    return torch.from_numpy(np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).astype(np.int64))


def _u_channel(frames: torch.Tensor) -> torch.Tensor:
    """OpenCV's U (as in COLOR_BGR2YUV on uint8), rounded, from (N, H, W, 3) RGB: (N, H, W) float."""
    rgb = frames.float()
    # The engine's element-wise BT.601 sum, not a matmul: the same IEEE operations in the same order
    # on CPU and CUDA, so U rounds alike on both.
    y = _luma(rgb[..., 0], rgb[..., 1], rgb[..., 2])
    return ((rgb[..., 2] - y) * 0.492 + 128.0).round().clamp(0, 255)


def _ll_blocks(u: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> (N, Br, Bc, 16): Haar LL of the 8x8-pixel blocks imwatermark visits."""
    n, h, w = u.shape
    br, bc = (h // 4 * 4) // 8, (w // 4 * 4) // 8
    cells = u[:, : br * 8, : bc * 8].reshape(n, br * 4, 2, bc * 4, 2).sum((2, 4)) / 2.0
    return cells.reshape(n, br, 4, bc, 4).permute(0, 1, 3, 2, 4).reshape(n, br, bc, 16)


def embed(frames: torch.Tensor, data: bytes, *, scale: float = SCALE) -> torch.Tensor:
    """Mark (N, H, W, 3) uint8 RGB frames (any device) with `data`, the imwatermark 'bytes' way."""
    frames = _check(frames, batched=True)
    bits = _bits_of(data).to(frames.device)
    n, h, w, _ = frames.shape
    blocks = _ll_blocks(_u_channel(frames))
    _, br, bc, _ = blocks.shape
    mag = blocks[..., 1:].abs()
    # argmax takes the first of equal maxima on every device (topk's choice among ties differs between
    # CPU and CUDA, and flat chroma ties often), as imwatermark's numpy decoder does.
    first = mag.argmax(-1, keepdim=True)
    pos = first[..., 0] + 1
    value = blocks.gather(-1, pos[..., None])[..., 0]
    runner_up = mag.scatter(-1, first, -1.0).amax(-1)
    bit = bits[torch.arange(br * bc, device=frames.device) % bits.numel()].reshape(br, bc).float()
    q = (torch.floor(value.abs() / scale) + 0.25 + 0.5 * bit) * scale
    q = q + scale * torch.ceil((runner_up + _MARGIN - q) / scale).clamp(min=0)
    d_ll = torch.sign(value) * q - value
    d_ll = torch.where(value == 0, q, d_ll)
    # An LL change of d spreads d / 2 onto each of the cell's 4 pixels (detail bands untouched).
    cell = torch.zeros_like(blocks).scatter_(-1, pos[..., None], d_ll[..., None] / 2.0)
    cell = cell.reshape(n, br, bc, 4, 4).permute(0, 1, 3, 2, 4).reshape(n, br * 4, bc * 4)
    d_u = torch.zeros(n, h, w, device=frames.device)
    d_u[:, : br * 8, : bc * 8] = cell.repeat_interleave(2, 1).repeat_interleave(2, 2)
    # Change U alone, keeping Y and V: B moves by 1/0.492 dU and G by -0.395 dU (OpenCV's inverse).
    rgb = frames.float()
    rgb[..., 1] -= 0.395 * d_u
    rgb[..., 2] += 2.032 * d_u
    return rgb.round_().clamp_(0, 255).to(torch.uint8)


def decode(frame, nbytes: int, *, scale: float = SCALE) -> bytes | None:
    """Read `nbytes` from one (H, W, 3) uint8 RGB frame; None for a degenerate (all 0 / all 1) word."""
    frame = _check(frame, batched=False)
    nbits = 8 * int(nbytes)
    if nbits <= 0:
        raise ValueError("nbytes must be positive")
    blocks = _ll_blocks(_u_channel(frame[None]))[0]
    pos = blocks[..., 1:].abs().argmax(-1) + 1
    value = blocks.gather(-1, pos[..., None])[..., 0].abs()
    votes = (torch.remainder(value, scale) > 0.5 * scale).float().reshape(-1)
    index = torch.arange(votes.numel(), device=votes.device) % nbits
    score = torch.zeros(nbits, device=votes.device).index_add_(0, index, votes)
    score /= torch.bincount(index, minlength=nbits).clamp(min=1)
    bits = (score * 255 > 127).cpu().numpy().astype(np.uint8)
    if not bits.any() or bits.all():
        return None
    return np.packbits(bits).tobytes()
