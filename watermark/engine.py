"""Robust frame watermark (the default): keyed spread spectrum in luminance, on a canonical grid.

How it works (details and the arithmetic in docs/watermark.md):

* Every frame is analysed on a *canonical grid* of 320x180 luminance samples (180x320 for portrait),
  each the area average of the frame pixels it covers, so the same grid is found at any resolution
  (360p = 2x, 720p = 4x, 1080p = 6x, 4K = 12x; 8x8 canonical blocks fall on the codec's 16x16 grid).
* In each 8x8 canonical block, 12 low-mid DCT coefficients (2 <= u+v <= 4) carry chips: 10,560 chips a
  frame, spread by a keyed permutation and keyed signs over three groups:
  a pilot (40 x 24 chips, always +1) used to re-synchronise cropped frames; the 306 coded bits of
  the segment word (24 chips each, same in every frame of a segment, so a clip sums them); and the
  frame index (2,256 chips carrying one of 256 keyed codewords).
* In calm blocks each group gets its own signal, scaled by the block's texture (perceptual masking),
  plus the cancellation of whatever the frame's content subtracts from it as the detector weighs it
  (improved spread spectrum). Busy blocks (see QIM_ACTIVITY) quantise each chip to its keyed lattice
  instead (dither modulation), which the host cannot interfere with. A frame's luminance change is
  held to RMS 2.45 (PSNR >= 40 dB), measured exactly after upsampling. The change is corrected for
  what the upsampling and the detector's averaging do to it across block edges, so it lands.
* The detector reads the soft values as they are and, failing that, clipped at their median
  magnitude: on busy texture the bits the embedder could not afford arrive confidently wrong.
* The detector combines the two kinds of chips by their reliability, read on the pilot.
* A frame whose own grid reads nothing is searched for an aspect-preserving crop (keeping 80-99.5 %
  of each side, any offset): the pilot is located by FFT cross-correlation at each scale, and, for
  crops of standard sizes kept at their pixel size, by the quantised pilot at every phase.
* The canonical-grid change is upsampled bilinearly to the frame and added equally to R, G and B
  (a pure luminance change), so the mark is smooth: no block edges, no colour shift.

Everything on the canonical grid is batched torch and device-agnostic. The two per-pixel steps (frame
to canonical luminance, canonical change to frame) run in OpenCV's SIMD kernels on a CPU and in torch
on a GPU; tests hold the two to each other. The Viterbi decoder (a few hundred soft values a
frame) runs in NumPy.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import payload as pl

ALGORITHM_NAME = "org.consentframe.wm.v1"
DEFAULT_KEY = ALGORITHM_NAME.encode()

CANON_LONG, CANON_SHORT = 320, 180
BLOCK = 8
# Low-mid band: survives 4:2:0 H.264 at 360p, where one canonical block is one 16x16 macroblock.
BAND = tuple((u, v) for s in (2, 3, 4) for u in range(s + 1) for v in (s - u,))
PILOT_BITS = 40
CHIPS_PER_BIT = 24
_LUMA = (0.299, 0.587, 0.114)

# Masking: a chip's share of its group's margin (STRENGTH) is clamp(activity / ACTIVITY_REF, MASK_MIN,
# MASK_MAX), where activity is the RMS of the block's AC DCT coefficients on the canonical grid.
STRENGTH = 4.0
ACTIVITY_REF = 2.0
MASK_MIN, MASK_MAX = 0.7, 2.0
# RMS of a frame's luminance change, at most: 2.45 levels (plus rounding) is PSNR >= 40.3 dB.
MAX_RMS = 2.45
# Every group gets at least this share of the margin as its own signal, whatever the content supplies.
BASE = 1.0
# Share of groups (coded bits) a frame may leave to the error-correcting code when the budget binds.
ABANDON = 0.08
# Round-trip corrections of the change (see _plan_change): the residual falls ~4x per step.
REFINE_STEPS = 2
# A second reading clips each frame's soft values at this multiple of their median magnitude.
SATURATE = 1.0
# The canonical-grid budget is set this much above MAX_RMS: upsampling smooths some energy away.
CANON_BUDGET = 1.3
# Detector chip weights: masking / (host activity^2 + NOISE_FLOOR^2), the matched filter for a
# chip whose host noise is its block's activity plus channel noise.
NOISE_FLOOR = 3.0
# Frame index accepted when its codeword correlates at this z-score (256 hypotheses: ~1e-3 by chance;
# it is only read once the segment word has checked).
FRAME_Z = 4.5
# A clip's frame offset is accepted at this combined z-score (<= 256 hypotheses: ~7e-5 by chance).
CLIP_FRAME_Z = 5.0
# A frame "matches" a word found in a clip when its own soft bits agree at this z-score.
MATCH_Z = 3.0
# Busy blocks (busy texture, hair, sharp edges) carry their chips by quantisation instead: dither
# modulation with step QIM_STEP and distortion compensation QIM_ALPHA. Spread spectrum has to fight
# the host there (its mid-band energy is ten times any affordable mark); a quantiser ignores it. A
# block is busy when the RMS of its AC coefficients *outside* the band exceeds QIM_ACTIVITY: the mark
# does not touch those, so embedder and detector classify the block alike (measured: < 0.5 % of
# blocks change class after H.264 CRF 28 or 360p + CRF 35).
QIM_ACTIVITY = 8.0
QIM_STEP = 24.0
QIM_ALPHA = 0.8
# Re-synchronisation: aspect-preserving crops keeping SCALES of the frame, searched when the grid fails.
SCALES = tuple(round(1.0 - 0.005 * i, 3) for i in range(1, 41))
# Crops kept at their pixel size are also searched at the canonical pitch of each standard source size
# (short side, long side), keeping at least MIN_CROP of each side, on a few frames of a clip.
CROP_SOURCES = ((360, 640), (480, 854), (720, 1280), (1080, 1920), (1440, 2560), (2160, 3840))
MIN_CROP = 0.8
CROP_SEARCH_FRAMES = 4


def _dct_matrix(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.float()


@dataclass(frozen=True)
class Detection:
    """What one frame says. `payload` is set when the segment word and the frame index both check.

    `frame` is reliable on stills, JPEG, scaled or cropped frames. A lone frame taken from an
    inter-coded video (H.264 P/B frames) usually reads as an earlier frame of its GOP, because the
    encoder carries the reference's frame field forward; `stream_id` and `segment` are unaffected.
    """

    payload: pl.Payload | None
    confidence: float
    stream_id: int | None = None
    segment: int | None = None
    frame: int | None = None
    bit_accuracy: float | None = None  # raw coded-bit agreement with the decoded word (diagnostic)
    resynchronised: bool = False

    @property
    def marked(self) -> bool:
        return self.stream_id is not None


@dataclass(frozen=True)
class SegmentMatch:
    stream_id: int
    segment: int
    frames: tuple[int, ...]  # positions in the clip whose own soft bits agree with this word
    confidence: float


@dataclass(frozen=True)
class ClipDetection:
    """Combined decision over a clip. The primary match is the segment seen in the most frames.

    `frame_numbers` come from one offset (index - position) read over each segment's frames; a clip
    cut mid-GOP from an already-encoded stream can still read the GOP's first index (see Detection).
    """

    marked: bool
    stream_id: int | None
    segment: int | None
    confidence: float
    matched_frames: tuple[int, ...] = ()
    frame_numbers: dict[int, int] = field(default_factory=dict)  # clip position -> frame index read
    matches: tuple[SegmentMatch, ...] = ()
    resynchronised: bool = False


class _Layout:
    """Keyed chip layout for one canonical orientation, cached per device."""

    def __init__(self, key: bytes, canon_hw: tuple[int, int], device: torch.device):
        self.canon_hw = canon_hw
        hb, wb = canon_hw[0] // BLOCK, canon_hw[1] // BLOCK
        self.blocks_hw = (hb, wb)
        self.chips = hb * wb * len(BAND)
        seed = int.from_bytes(hmac.new(key, b"chip-layout", hashlib.sha256).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(self.chips)
        self.bits = PILOT_BITS + pl.CODED_BITS
        n_bit_chips = self.bits * CHIPS_PER_BIT
        self.frame_chips = self.chips - n_bit_chips
        group = np.empty(self.chips, dtype=np.int64)
        # Chip perm[i] belongs to bit i % bits: each bit's chips are scattered over the whole frame.
        group[perm[:n_bit_chips]] = np.arange(n_bit_chips) % self.bits
        group[perm[n_bit_chips:]] = self.bits  # the frame-index group
        frame_pos = np.empty(self.chips, dtype=np.int64)
        frame_pos[perm[n_bit_chips:]] = np.arange(self.frame_chips)
        frame_pos[perm[:n_bit_chips]] = 0
        pn = rng.integers(0, 2, size=self.chips) * 2 - 1
        self.is_frame_chip = torch.from_numpy(group == self.bits).to(device)
        self.group = torch.from_numpy(group).to(device)
        self.frame_pos = torch.from_numpy(frame_pos).to(device)
        self.pn = torch.from_numpy(pn).float().to(device)
        # Row b: the CHIPS_PER_BIT chips of bit b (perm[i] belongs to bit i % bits); for group_sums.
        self.bit_chips = torch.from_numpy(np.ascontiguousarray(
            perm[:n_bit_chips].reshape(CHIPS_PER_BIT, self.bits).T)).to(device)
        self.frame_chip_index = torch.from_numpy(perm[n_bit_chips:].copy()).to(device)
        self.codebook = torch.from_numpy(pl.frame_codebook(key, self.frame_chips)).to(device)
        self.dct = _dct_matrix(BLOCK).to(device)
        self.band_u = torch.tensor([u for u, _ in BAND], device=device)
        self.band_v = torch.tensor([v for _, v in BAND], device=device)
        # Keyed offset (dither) of each chip's quantiser, uniform in [0, QIM_STEP).
        self.dither = torch.from_numpy(rng.random(self.chips)).float().to(device) * QIM_STEP
        self.is_pilot_chip = self.group < PILOT_BITS
        outside = torch.ones(BLOCK, BLOCK, dtype=torch.bool)
        outside[0, 0] = False
        outside[self.band_u.cpu(), self.band_v.cpu()] = False
        self.outside_band = outside.to(device)
        self._pilot_template: torch.Tensor | None = None
        self._pilot_chips: tuple[torch.Tensor, ...] | None = None
        basis = self.dct.cpu()
        self.band_kernels = torch.stack([basis[u][:, None] * basis[v][None, :] for u, v in BAND])[:, None].to(device)
        axis_gain = 0.75 + 0.25 * torch.cos(math.pi * torch.arange(BLOCK, dtype=torch.float32) / BLOCK)
        self.band_gain = (axis_gain[self.band_u.cpu()] * axis_gain[self.band_v.cpu()]).repeat(hb * wb).to(device)

    # --- transforms between canonical luminance and chips -----------------------------------------
    def block_coefs(self, canon: torch.Tensor) -> torch.Tensor:
        """(N, Hc, Wc) -> (N, Hb, Wb, 8, 8) orthonormal block DCT."""
        hb, wb = self.blocks_hw
        n = canon.shape[0]
        x = canon[:, : hb * BLOCK, : wb * BLOCK].reshape(n, hb, BLOCK, wb, BLOCK).permute(0, 1, 3, 2, 4)
        return self.dct @ x @ self.dct.T

    def chips_from_coefs(self, coefs: torch.Tensor) -> torch.Tensor:
        return coefs[..., self.band_u, self.band_v].reshape(coefs.shape[0], -1)

    def busy_chips(self, coefs: torch.Tensor) -> torch.Tensor:
        """(N, chips) bool: chips of busy blocks, which carry the mark by quantisation (see QIM_ACTIVITY)."""
        outside = coefs[..., self.outside_band].pow(2).mean(-1).sqrt()  # (N, Hb, Wb)
        return (outside > QIM_ACTIVITY).repeat_interleave(len(BAND), dim=-1).reshape(coefs.shape[0], -1)

    def quantised(self, host: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The nearest point to `host` of each chip's quantiser for its target sign (N, chips)."""
        lattice = self.dither + (target < 0).float() * (QIM_STEP / 2)
        return lattice + QIM_STEP * torch.round((host - lattice) / QIM_STEP)

    def quantiser_reading(self, chips: torch.Tensor) -> torch.Tensor:
        """Soft sign of each chip read as a quantiser: +1 on the lattice of target +1, -1 halfway."""
        return torch.cos((2 * math.pi / QIM_STEP) * (chips - self.dither))

    def spatial_from_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, chips) band values -> (N, Hc, Wc) spatial change (zero outside the block area)."""
        hb, wb = self.blocks_hw
        n = chips.shape[0]
        coefs = torch.zeros(n, hb, wb, BLOCK, BLOCK, device=chips.device, dtype=chips.dtype)
        coefs[..., self.band_u, self.band_v] = chips.reshape(n, hb, wb, len(BAND))
        x = self.dct.T @ coefs @ self.dct
        x = x.permute(0, 1, 3, 2, 4).reshape(n, hb * BLOCK, wb * BLOCK)
        return F.pad(x, (0, self.canon_hw[1] - wb * BLOCK, 0, self.canon_hw[0] - hb * BLOCK))

    def smear(self, change: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
        """What the detector's area averaging sees of `change` (N, Hc, Wc) after bilinear upsampling to
        `frame_hw`: the exact separable, tridiagonal operator A U on each axis."""
        ay = _round_trip(self.canon_hw[0], frame_hw[0], change.device)
        ax = _round_trip(self.canon_hw[1], frame_hw[1], change.device)
        return _banded(_banded(change, *ay, dim=1), *ax, dim=2)

    def upsampled_energy(self, change: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
        """Per frame, the energy (sum of squares) of `change` (N, Hc, Wc) after bilinear upsampling to
        `frame_hw`: x' (Qy x Qx) with Q = U'U for each axis's upsampling matrix U, which is tridiagonal."""
        qy = _upsampling_gram(self.canon_hw[0], frame_hw[0], change.device)
        qx = _upsampling_gram(self.canon_hw[1], frame_hw[1], change.device)
        return (change * _banded(_banded(change, *qy, dim=1), *qx, dim=2)).sum((1, 2))

    def pilot_scan(self, canon: torch.Tensor, canon_hw: tuple[int, int]) -> tuple[float, int, int]:
        """Where the quantised pilot reads best in `canon` (N, H', W'), a crop's canonical luminance at
        the source's pitch: (z-score summed over frames, row and column of the source's canonical grid
        at which the crop starts). Every whole-sample offset is scored at once: the band coefficients
        of every 8x8 window come from one convolution, and each offset gathers the pilot chips."""
        n, hh, ww = canon.shape
        if hh < BLOCK or ww < BLOCK:
            return -math.inf, 0, 0
        coefs = F.conv2d(canon[:, None], self.band_kernels)  # (N, 12, hh - 7, ww - 7)
        if self._pilot_chips is None:
            idx = torch.nonzero(self.is_pilot_chip).flatten()
            block, k = idx // len(BAND), idx % len(BAND)
            wb = self.blocks_hw[1]
            self._pilot_chips = (BLOCK * (block // wb), BLOCK * (block % wb), k, idx)
        rows, cols, k, idx = self._pilot_chips
        ny, nx = canon_hw[0] - hh + 1, canon_hw[1] - ww + 1  # offsets that keep the crop inside the source
        y0 = torch.arange(max(1, ny), device=canon.device)
        x0 = torch.arange(max(1, nx), device=canon.device)
        r = rows[None, :] - y0[:, None]  # (ny, pilots): window row in the crop
        c = cols[None, :] - x0[:, None]
        ok_r = (r >= 0) & (r < coefs.shape[2])
        ok_c = (c >= 0) & (c < coefs.shape[3])
        flat = coefs.permute(1, 2, 3, 0).reshape(len(BAND), -1, n)  # (12, windows, N)
        lin = (r.clamp(0, coefs.shape[2] - 1)[:, None, :] * coefs.shape[3]
               + c.clamp(0, coefs.shape[3] - 1)[None, :, :])  # (ny, nx, pilots)
        x = flat[k[None, None, :].expand_as(lin), lin]  # (ny, nx, pilots, N)
        reading = torch.cos((2 * math.pi / QIM_STEP) * (x - self.dither[idx][:, None])) * self.pn[idx][:, None]
        valid = (ok_r[:, None, :] & ok_c[None, :, :]).float()
        score = (reading.sum(-1) * valid).sum(-1) / (0.5 * n * valid.sum(-1)).clamp(min=1).sqrt()
        best = int(torch.argmax(score))
        return float(score.flatten()[best]), best // score.shape[1], best % score.shape[1]

    def pilot_template(self) -> torch.Tensor:
        """Spatial pattern of the pilot chips at unit amplitude, (Hc, Wc)."""
        if self._pilot_template is None:
            chips = torch.where(self.group < PILOT_BITS, self.pn, torch.zeros_like(self.pn))
            self._pilot_template = self.spatial_from_chips(chips[None])[0]
        return self._pilot_template

    # --- chip signs for payloads -------------------------------------------------------------------
    def targets(self, key: bytes, payloads: Sequence[pl.Payload]) -> torch.Tensor:
        """(N, chips) ±1: the sign each chip should take for each payload (pn already applied)."""
        idents = [(int(p.stream_id), int(p.segment)) for p in payloads]
        distinct = list(dict.fromkeys(idents))  # a batch is usually one segment: one codeword to make
        words = np.stack([
            # The last entry stands for the frame group, whose chips take the frame codeword below.
            np.concatenate([np.ones(PILOT_BITS, np.uint8), pl.segment_codeword(key, *ident), [0]])
            for ident in distinct
        ]).astype(np.float32) * 2 - 1
        words = torch.from_numpy(words).to(self.pn.device)
        which = torch.tensor([distinct.index(i) for i in idents], device=self.pn.device)
        frames = torch.tensor([int(p.frame) for p in payloads], device=self.pn.device)
        bit_signs = words[which][:, self.group]  # (N, chips)
        frame_signs = self.codebook[frames][:, self.frame_pos]
        return torch.where(self.is_frame_chip, frame_signs, bit_signs) * self.pn

    def group_sums(self, values: torch.Tensor) -> torch.Tensor:
        """(N, chips) -> (N, bits + 1) sums per group (bits, then the frame-index group)."""
        # Gathered and summed rather than index_add_: on CUDA that adds atomically, in no fixed order,
        # so the same frames would be marked with pixels that differ from run to run.
        bits = values[:, self.bit_chips].sum(-1)
        return torch.cat([bits, values[:, self.frame_chip_index].sum(-1, keepdim=True)], dim=1)


def _linear_upsampling(n_in: int, n_out: int) -> torch.Tensor:
    """(n_in, n_out) float64: row k is unit sample k upsampled (half-pixel centres, as
    F.interpolate(align_corners=False) and OpenCV's INTER_LINEAR define it); U' for one axis."""
    return F.interpolate(torch.eye(n_in, dtype=torch.float64)[None], size=n_out, mode="linear", align_corners=False)[0]


@functools.lru_cache(maxsize=16)
def _upsampling_gram(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Lower, main and upper diagonals of U'U, U the (n_out, n_in) linear upsampling of one axis."""
    rows = _linear_upsampling(n_in, n_out)
    gram = rows @ rows.T
    return tuple(d.float().to(device) for d in (gram.diagonal(-1), gram.diagonal(), gram.diagonal(1)))


@functools.lru_cache(maxsize=16)
def _round_trip(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Lower, main and upper diagonals of A U: linear upsampling n_in -> n_out, then area averaging
    back to n_in, on one axis (tridiagonal when n_out / n_in >= 2)."""
    m = _area_weights(n_in, n_out, torch.device("cpu")).double() @ _linear_upsampling(n_in, n_out).T  # A U
    return tuple(d.float().to(device) for d in (m.diagonal(-1), m.diagonal(), m.diagonal(1)))


def _banded(x: torch.Tensor, lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor, *, dim: int) -> torch.Tensor:
    """Multiply x along `dim` by the tridiagonal matrix (lower, diag, upper)."""
    x = x.movedim(dim, -1)
    out = x * diag
    out[..., :-1] += x[..., 1:] * upper
    out[..., 1:] += x[..., :-1] * lower
    return out.movedim(-1, dim)


def _check_frames(frames, *, batched: bool) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"frames must be a torch.Tensor or numpy array, got {type(frames).__name__}")
    shape_txt = "(N, H, W, 3)" if batched else "(H, W, 3)"
    if frames.ndim != (4 if batched else 3) or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped {shape_txt} RGB, got {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 RGB (0-255), got {frames.dtype}; convert with .to(torch.uint8)")
    h, w = frames.shape[-3], frames.shape[-2]
    if min(h, w) < CANON_SHORT or max(h, w) < CANON_LONG:
        raise ValueError(
            f"frame {w}x{h} is too small for the watermark: it needs at least "
            f"{CANON_LONG}x{CANON_SHORT} (or {CANON_SHORT}x{CANON_LONG} portrait)"
        )
    return frames


def _canon_shape(h: int, w: int) -> tuple[int, int]:
    return (CANON_SHORT, CANON_LONG) if w >= h else (CANON_LONG, CANON_SHORT)


# The two per-pixel steps, frame <-> canonical grid, are the only ones whose cost grows with the frame
# size. On a CPU they run in OpenCV's SIMD kernels, one frame at a time (several times faster than
# the same arithmetic as torch ops: no int16 or float copy of the frame is ever made); on a GPU in
# torch, batched. Both compute the same quantities: tests hold them to each other.


def _canonical_luma(frames: torch.Tensor, canon_hw: tuple[int, int]) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, Hc, Wc) float32 area-averaged luminance (BT.601 weights)."""
    if frames.device.type == "cpu":
        return _canonical_luma_cv(frames, canon_hw)
    return _canonical_luma_torch(frames, canon_hw)


def _canonical_luma_torch(frames: torch.Tensor, canon_hw: tuple[int, int]) -> torch.Tensor:
    h, w = frames.shape[1:3]
    if h % canon_hw[0] == 0 and w % canon_hw[1] == 0:
        rgb = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=canon_hw, mode="area")
        return _luma(rgb[:, 0], rgb[:, 1], rgb[:, 2])
    # A fractional factor (854x480): torch's "area" mode averages whole-pixel windows, which is not the
    # pixel-overlap average OpenCV computes; two separable weight matrices give the exact one.
    rgb = frames.float()
    y = _luma(rgb[..., 0], rgb[..., 1], rgb[..., 2])
    return _area_weights(canon_hw[0], h, frames.device) @ y @ _area_weights(canon_hw[1], w, frames.device).T


def _area_weights(n_out: int, n_in: int, device: torch.device) -> torch.Tensor:
    """(n_out, n_in): output sample i is the mean of the input over [i, i + 1) * n_in / n_out."""
    return _window_weights(n_in, n_in / n_out, 0.0, n_out, device)


@functools.lru_cache(maxsize=64)
def _window_weights(n_in: int, pitch: float, phase: float, count: int | None, device: torch.device) -> torch.Tensor:
    """(count, n_in): row k is the mean over the input's [phase + k pitch, phase + (k + 1) pitch), pixel
    overlaps weighted exactly; `count` defaults to every whole window that fits."""
    if count is None:
        count = int((n_in - phase) / pitch + 1e-6)
    edges = phase + torch.arange(count + 1, dtype=torch.float64) * pitch
    left, right = edges[:-1, None], edges[1:, None]
    j = torch.arange(n_in, dtype=torch.float64)[None, :]
    overlap = (torch.minimum(right, j + 1) - torch.maximum(left, j)).clamp(min=0)
    return (overlap / pitch).float().to(device)


def _canonical_luma_cv(frames: torch.Tensor, canon_hw: tuple[int, int]) -> torch.Tensor:
    hc, wc = canon_hw
    out = np.empty((frames.shape[0], hc, wc), dtype=np.float32)
    for i, frame in enumerate(frames.numpy()):
        # OpenCV's fixed-point luminance rounds each pixel to an integer (error <= 0.5, ~0.15 RMS after
        # the area average on smooth content): far below the codec noise the detector is built for.
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)
        out[i] = cv2.resize(gray, (wc, hc), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out)


def _apply_change(frames: torch.Tensor, change: torch.Tensor, max_rms: float, out: torch.Tensor) -> None:
    """out = clamp(frames + round(s * up(change)), 0, 255), the same integer change on R, G and B.

    `change` (N, Hc, Wc) is the canonical-grid luminance change, `up` bilinear upsampling to the frame
    size (half-pixel centres, as both torch and OpenCV define it), and s <= 1 per frame holds the
    frame's RMS change to `max_rms`: the PSNR guarantee.
    """
    if frames.device.type == "cpu":
        _apply_change_cv(frames, change, max_rms, out)
    else:
        _apply_change_torch(frames, change, max_rms, out)


def _apply_change_torch(frames: torch.Tensor, change: torch.Tensor, max_rms: float, out: torch.Tensor) -> None:
    n, h, w, _ = frames.shape
    up = F.interpolate(change[:, None], size=(h, w), mode="bilinear", align_corners=False)
    rms = torch.linalg.vector_norm(up, dim=(1, 2, 3), keepdim=True) / math.sqrt(h * w)
    delta = (up * (max_rms / rms.clamp(min=1e-6)).clamp(max=1.0)).round_().to(torch.int16)
    out.copy_((frames.to(torch.int16) + delta[:, 0, :, :, None]).clamp_(0, 255))


def _apply_change_cv(frames: torch.Tensor, change: torch.Tensor, max_rms: float, out: torch.Tensor) -> None:
    n, h, w, _ = frames.shape
    src, dst, changes = frames.numpy(), out.numpy(), change.numpy()
    for i in range(n):
        up = changes[i]
        if up.shape != (h, w):
            up = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)
        rms = cv2.norm(up) / math.sqrt(h * w)
        scale = min(1.0, max_rms / max(rms, 1e-6))
        # Saturating uint8 arithmetic only: add the positive part of the rounded change, subtract the
        # negative part. Rounding |s*up| (half to even) equals rounding s*up, sign restored.
        size = cv2.convertScaleAbs(up, alpha=scale)
        raise_ = cv2.bitwise_and(size, cv2.compare(up, 0, cv2.CMP_GT))
        lower = cv2.subtract(size, raise_)
        frame = src[i] if src[i].flags.c_contiguous else np.ascontiguousarray(src[i])
        target = dst[i]
        cv2.add(frame, cv2.merge((raise_, raise_, raise_)), dst=target)
        cv2.subtract(target, cv2.merge((lower, lower, lower)), dst=target)


def _luma(r: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Explicit weighted sum: a (..., 3) @ (3,) matmul is several times slower on CPU.
    return r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]


class Watermarker:
    """Robust watermark for batches of RGB uint8 frames on any torch device."""

    algorithm = ALGORITHM_NAME

    def __init__(self, key: bytes | str = DEFAULT_KEY, *, strength: float = STRENGTH, max_rms: float = MAX_RMS,
                 batch_size: int | None = None):
        self.key = key.encode() if isinstance(key, str) else bytes(key)
        if not self.key:
            raise ValueError("watermark key must not be empty")
        self.strength = float(strength)
        self.max_rms = float(max_rms)
        self.batch_size = batch_size
        self._layouts: dict[tuple, _Layout] = {}

    def _chunk(self, device: torch.device) -> int:
        # Frames processed together: a GPU wants large batches. On a CPU the per-pixel steps go a frame
        # at a time anyway (OpenCV); eight frames share the fixed cost of the canonical-grid steps.
        if self.batch_size:
            return int(self.batch_size)
        return 32 if device.type == "cuda" else 8

    def _layout(self, canon_hw, device) -> _Layout:
        ident = (canon_hw, str(device))
        if ident not in self._layouts:
            self._layouts[ident] = _Layout(self.key, canon_hw, torch.device(device))
        return self._layouts[ident]

    # --- embedding ------------------------------------------------------------------------------
    def embed(self, frames: torch.Tensor, payloads: Sequence[pl.Payload], *,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """Return the marked `frames` (N, H, W, 3) uint8 RGB, one payload per frame.

        A new tensor, or `out` when given (same shape, dtype and device; `out=frames` marks in place
        and saves a frame-sized allocation, whose page faults cost about as much as the marking).
        """
        frames = _check_frames(frames, batched=True)
        payloads = list(payloads)
        if len(payloads) != frames.shape[0]:
            raise ValueError(f"got {len(payloads)} payloads for {frames.shape[0]} frames: pass one per frame")
        for p in payloads:
            if not isinstance(p, pl.Payload):
                raise ValueError(f"payloads must be watermark.payload.Payload, got {type(p).__name__}")
        if out is not None and (out.shape != frames.shape or out.dtype != frames.dtype or out.device != frames.device):
            raise ValueError(f"out must match frames ({tuple(frames.shape)} {frames.dtype} on {frames.device}), got "
                             f"{tuple(out.shape)} {out.dtype} on {out.device}; or leave it out")
        # The per-pixel kernels work on C-ordered frames: a strided view (NCHW permuted, say) is copied
        # once, and a strided `out` is filled from a C-ordered buffer.
        frames = frames.contiguous()
        marked = out if out is not None and out.is_contiguous() else torch.empty(
            frames.shape, dtype=frames.dtype, device=frames.device)
        step = self._chunk(frames.device)
        for start in range(0, frames.shape[0], step):
            stop = start + step
            self._embed_batch(frames[start:stop], payloads[start:stop], marked[start:stop])
        if out is not None and marked is not out:
            return out.copy_(marked)
        return marked

    def embed_segment(self, frames: torch.Tensor, *, stream_id: int, segment: int,
                      out: torch.Tensor | None = None) -> torch.Tensor:
        """Mark a segment's frames; the frame index is the position in the batch (must be < 256)."""
        n = _check_frames(frames, batched=True).shape[0]
        if n > pl.FRAME_VALUES:
            raise ValueError(f"a segment holds at most {pl.FRAME_VALUES} frames, got {n}: split it")
        return self.embed(frames, [pl.Payload(stream_id, segment, i) for i in range(n)], out=out)

    def _embed_batch(self, frames: torch.Tensor, payloads: list[pl.Payload], out: torch.Tensor) -> None:
        """Write the marked `frames` (N, H, W, 3) uint8 into `out`, a tensor of the same shape."""
        h, w = frames.shape[1:3]
        layout = self._layout(_canon_shape(h, w), frames.device)
        change = self._plan_change(layout, _canonical_luma(frames, layout.canon_hw), payloads, frame_hw=(h, w))
        # The guarantee: the frame's luminance change never exceeds max_rms (PSNR >= 40 dB at 2.45).
        _apply_change(frames, change, self.max_rms, out)

    def _plan_change(self, layout: _Layout, canon: torch.Tensor, payloads: list[pl.Payload], *,
                     frame_hw: tuple[int, int]) -> torch.Tensor:
        """The canonical-grid luminance change (N, Hc, Wc) that writes `payloads` into `canon`.

        Its bilinear upsampling to `frame_hw` stays within the RMS budget (measured exactly on the
        canonical grid), so the final cap rarely has to scale a change down: scaling would undo
        part of the cancellation of opposing content, and flip those bits.
        """
        n = canon.shape[0]
        coefs = layout.block_coefs(canon)
        host = layout.chips_from_coefs(coefs)  # (N, chips)
        activity = _activity(coefs)
        busy = layout.busy_chips(coefs)
        calm = (~busy).float()
        weight = _mask(activity).repeat_interleave(len(BAND), dim=-1).reshape(n, -1) * calm  # (N, chips)
        heard = _detector_weight(activity).repeat_interleave(len(BAND), dim=-1).reshape(n, -1) * calm
        target = layout.targets(self.key, payloads)
        # Informed embedding: each group's correlation, as the detector weighs it (per unit of masking
        # weight), must reach a margin M; the content contributes h, so add max(M - h, BASE * M),
        # spread over the group in proportion to the masking weight: content that opposes a bit is
        # cancelled. M is the strength, lowered per frame only as far as the PSNR budget requires.
        weight_sum = layout.group_sums(weight * heard).clamp(min=1e-12)
        host_margin = layout.group_sums(host * target * heard) / weight_sum  # (N, groups)
        upsampled = frame_hw != layout.canon_hw
        # Bilinear upsampling then the detector's area averaging act on the canonical grid as the
        # separable filter [1/8, 3/4, 1/8] (any factor >= 2): pre-compensate its gain per band.
        gain = layout.band_gain if upsampled else torch.ones_like(layout.band_gain)
        cost = layout.group_sums((weight / gain).pow(2))  # energy per unit of correction, squared
        # Busy chips move towards their quantiser's nearest point for the target sign.
        move = (layout.quantised(host, target) - host) * busy
        move_cost = (move / gain).pow(2).sum(1, keepdim=True)  # energy of the whole move
        busy_share = busy.float().mean(1, keepdim=True)
        allowed = self.max_rms**2 * frame_hw[0] * frame_hw[1]  # the frame's energy budget
        budget = torch.full((n, 1), (self.max_rms * CANON_BUDGET) ** 2 * layout.canon_hw[0] * layout.canon_hw[1],
                            device=canon.device)
        alpha_cap = torch.full_like(budget, QIM_ALPHA)
        for attempt in range(3):
            # Busy blocks take at most their share of the budget (less compensation, not fewer chips);
            # spread spectrum fits its margin into what is left.
            alpha = torch.minimum(alpha_cap, (busy_share * budget / move_cost.clamp(min=1e-9)).sqrt())
            margin, served = _fit_margin(host_margin, cost, self.strength, budget - alpha**2 * move_cost)
            correction = _correction(margin, host_margin) * served
            wanted = correction[:, layout.group] * weight * target + alpha * move  # chips the detector should see
            change = layout.spatial_from_chips(wanted / gain)
            if upsampled:
                # The per-band gain is the filter's response inside a block; across block edges it
                # leaks, and a large cancellation leaks enough to flip bits. Correct the residual.
                for _ in range(REFINE_STEPS):
                    seen = layout.chips_from_coefs(layout.block_coefs(layout.smear(change, frame_hw)))
                    change = change + layout.spatial_from_chips((wanted - seen) / gain)
            if not upsampled:
                break
            energy = layout.upsampled_energy(change, frame_hw)[:, None]
            over = energy > allowed * 1.0001
            if not bool(over.any()):
                break
            # The canonical budget was a guess: correct it by the measured ratio, with 1 % to spare.
            budget = torch.where(over, budget * allowed / energy * 0.99, budget)
            alpha_cap = torch.where(over, alpha * (allowed / energy * 0.99).sqrt(), alpha_cap)
        return change

    # --- detection ------------------------------------------------------------------------------
    def _soft(self, layout: _Layout, canon: torch.Tensor, valid_blocks: torch.Tensor | None = None):
        """Per-frame normalised chip correlations -> (group sums (N, bits+1), frame scores (N, 256))."""
        coefs = layout.block_coefs(canon)
        chips = layout.chips_from_coefs(coefs)
        n = chips.shape[0]
        busy = layout.busy_chips(coefs)
        block_w = _detector_weight(_activity(coefs))
        if valid_blocks is not None:
            block_w = block_w * valid_blocks.reshape(1, *block_w.shape[1:])
            busy = busy & (valid_blocks > 0).repeat_interleave(len(BAND))[None]
        spread = chips * layout.pn * block_w.repeat_interleave(len(BAND), dim=-1).reshape(n, -1) * ~busy
        quant = layout.quantiser_reading(chips) * layout.pn * busy
        # Each kind normalised to unit chip variance, then weighted by its reliability in this frame,
        # read on the pilot (known signs): maximal-ratio combining of the two channels.
        z = _unit_variance(spread) * _reliability(_unit_variance(spread), layout.is_pilot_chip)
        z = z + _unit_variance(quant) * _reliability(_unit_variance(quant), layout.is_pilot_chip)
        sums = layout.group_sums(torch.where(layout.is_frame_chip, torch.zeros_like(z), z))
        frame_z = z[:, layout.is_frame_chip]
        # Chips of the frame group sit at frame_pos; reorder so codebook columns line up.
        order = torch.argsort(layout.frame_pos[layout.is_frame_chip])
        frame_z = frame_z[:, order]
        norm = frame_z.pow(2).sum(1, keepdim=True).sqrt().clamp(min=1e-9)
        frame_scores = frame_z @ layout.codebook.T / norm
        return sums.double().cpu().numpy(), frame_scores.double().cpu().numpy()

    def detect(self, frame) -> Detection:
        """Read one (H, W, 3) uint8 RGB frame (numpy or torch)."""
        frame = _check_frames(frame, batched=False)
        clip, soft = self._detect(frame[None])
        if not clip.marked:
            return Detection(payload=None, confidence=0.0)
        number = clip.frame_numbers.get(0)
        acc = _bit_accuracy(soft[0], self.key, clip.stream_id, clip.segment)
        return Detection(
            payload=pl.Payload(clip.stream_id, clip.segment, number) if number is not None else None,
            confidence=clip.confidence,
            stream_id=clip.stream_id,
            segment=clip.segment,
            frame=number,
            bit_accuracy=acc,
            resynchronised=clip.resynchronised,
        )

    def detect_frames(self, frames, *, resync: bool = True) -> list[Detection]:
        """Independent decisions for each frame of (N, H, W, 3), batched; the crop search runs only
        for frames whose own grid reads nothing, and only when `resync`."""
        frames = _check_frames(frames, batched=True)
        n, h, w, _ = frames.shape
        layout = self._layout(_canon_shape(h, w), frames.device)
        sums, frame_scores = self._soft(layout, self._canonical(frames, layout))
        soft = sums[:, PILOT_BITS:-1]
        words = pl.decode_word(self.key, soft)
        failed = [i for i, word in enumerate(words) if word is None]
        if failed:  # the second reading, with confident outliers held back (see _saturate)
            for i, word in zip(failed, pl.decode_word(self.key, _saturate(soft[failed]))):
                words[i] = word
        out = []
        for i, word in enumerate(words):
            if word is None:
                out.append(self.detect(frames[i]) if resync else Detection(payload=None, confidence=0.0))
                continue
            k = int(np.argmax(frame_scores[i]))
            number = k if frame_scores[i, k] >= FRAME_Z else None
            acc = _bit_accuracy(soft[i], self.key, *word)
            out.append(Detection(
                payload=pl.Payload(word[0], word[1], number) if number is not None else None,
                confidence=max(0.0, 2 * acc - 1), stream_id=word[0], segment=word[1], frame=number,
                bit_accuracy=acc,
            ))
        return out

    def _canonical(self, frames: torch.Tensor, layout: _Layout) -> torch.Tensor:
        step = self._chunk(frames.device)
        return torch.cat([
            _canonical_luma(frames[i:i + step], layout.canon_hw) for i in range(0, frames.shape[0], step)
        ])

    def detect_clip(self, frames) -> ClipDetection:
        """Soft-combine the frames of a clip (N, H, W, 3) uint8 RGB and report what they carry."""
        return self._detect(_check_frames(frames, batched=True))[0]

    def _detect(self, frames: torch.Tensor) -> tuple[ClipDetection, np.ndarray]:
        n, h, w, _ = frames.shape
        layout = self._layout(_canon_shape(h, w), frames.device)
        sums, frame_scores = self._soft(layout, self._canonical(frames, layout))
        result = self._decide(sums, frame_scores)
        if result.marked:
            return result, sums[:, PILOT_BITS:-1]
        for canon_r, valid in itertools.chain(self._resync_candidates(layout, frames),
                                              self._pitch_crop_candidates(layout, frames)):
            sums, frame_scores = self._soft(layout, canon_r, valid)
            result = self._decide(sums, frame_scores, resynchronised=True)
            if result.marked:
                break
        return result, sums[:, PILOT_BITS:-1]

    def _decide(self, sums: np.ndarray, frame_scores: np.ndarray, resynchronised: bool = False) -> ClipDetection:
        soft = sums[:, PILOT_BITS:-1]  # (N, 306) coded-bit soft values
        result = self._decide_soft(soft, frame_scores, resynchronised)
        if not result.marked:
            result = self._decide_soft(_saturate(soft), frame_scores, resynchronised)
        return result

    def _decide_soft(self, soft: np.ndarray, frame_scores: np.ndarray, resynchronised: bool) -> ClipDetection:
        n = soft.shape[0]
        candidates = [soft, soft.sum(0, keepdims=True)]
        if n > 2:
            prefix = np.cumsum(soft, axis=0)
            candidates += [prefix[:-1], prefix[-1] - prefix[:-1]]  # clips spanning a segment boundary
        words = pl.decode_word(self.key, np.concatenate(candidates))
        found = {w for w in words if w is not None}
        if not found:
            return ClipDetection(False, None, None, 0.0, resynchronised=resynchronised)
        found = sorted(found)
        signs = np.stack([pl.segment_codeword(self.key, *w).astype(np.float64) * 2 - 1 for w in found])
        # Words of neighbouring segments share most coded bits, so each frame goes to its best word.
        z = soft @ signs.T / np.sqrt((soft**2).sum(1, keepdims=True)).clip(min=1e-9)  # (N, words)
        best_word = np.argmax(z, axis=1)
        matches = []
        numbers = {}
        for k, (stream_id, segment) in enumerate(found):
            members = np.flatnonzero(best_word == k)
            frames_ok = tuple(int(i) for i in members if z[i, k] >= MATCH_Z)
            if not frames_ok:
                frames_ok = (int(np.argmax(z[:, k])),)
            combined = soft[list(frames_ok)].sum(0)
            agree = float(((combined > 0) == (signs[k] > 0)).mean())
            matches.append(SegmentMatch(stream_id, segment, frames_ok, max(0.0, 2 * agree - 1)))
            numbers.update(_frame_numbers(frame_scores, members))
        matches.sort(key=lambda m: (len(m.frames), m.confidence), reverse=True)
        best = matches[0]
        return ClipDetection(
            marked=True,
            stream_id=best.stream_id,
            segment=best.segment,
            confidence=best.confidence,
            matched_frames=best.frames,
            frame_numbers=numbers,
            matches=tuple(matches),
            resynchronised=resynchronised,
        )

    # --- re-synchronisation after a crop --------------------------------------------------------
    def _resync_candidates(self, layout: _Layout, frames: torch.Tensor, top: int = 2):
        """Yield (canonical luma (N,Hc,Wc), valid block mask (Hb*Wb,)) for the best crop hypotheses.

        The clip's frames are averaged (the pilot is the same in all of them, content is not), then
        for each scale the frame is resampled to the canonical pitch at twice its density and the
        pilot template is located by FFT cross-correlation of whitened images.
        """
        hc, wc = layout.canon_hw
        n = frames.shape[0]
        dev = frames.device
        full = (2 * hc, 2 * wc)
        # Whiten once at the full-frame hypothesis' density; each scale is then a small bilinear resize.
        work = torch.zeros(full, device=dev)
        step = self._chunk(dev)
        for i in range(0, n, step):
            rgb = F.interpolate(frames[i:i + step].permute(0, 3, 1, 2).float(), size=full, mode="area")
            work += _luma(rgb[:, 0], rgb[:, 1], rgb[:, 2]).sum(0)
        work = _whiten(work / n)
        template = F.interpolate(layout.pilot_template()[None, None], scale_factor=2, mode="bilinear",
                                 align_corners=False)[0, 0]
        t_fft = torch.fft.rfft2(template)
        scored = []
        for s in SCALES:
            size = (max(2, round(full[0] * s)), max(2, round(full[1] * s)))
            resized = F.interpolate(work[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
            padded = torch.zeros(full, device=dev)
            padded[: size[0], : size[1]] = resized
            corr = torch.fft.irfft2(torch.conj(torch.fft.rfft2(padded)) * t_fft, s=full)
            valid = corr[: full[0] - size[0] + 1, : full[1] - size[1] + 1]
            z = float((valid.max() - corr.mean()) / corr.std().clamp(min=1e-9))
            dy, dx = divmod(int(torch.argmax(valid)), valid.shape[1])
            scored.append((z, s, size, dy, dx))
        scored.sort(reverse=True)
        for z, s, size, dy, dx in scored[:top]:
            canvas = torch.zeros(n, 2 * hc, 2 * wc, device=dev)
            cover = torch.zeros(2 * hc, 2 * wc, device=dev)
            for i in range(0, n, step):
                chunk = frames[i:i + step].permute(0, 3, 1, 2).float()
                rgb = F.interpolate(chunk, size=size, mode="area")
                canvas[i:i + step, dy:dy + size[0], dx:dx + size[1]] = _luma(rgb[:, 0], rgb[:, 1], rgb[:, 2])
            cover[dy:dy + size[0], dx:dx + size[1]] = 1
            canon = F.avg_pool2d(canvas[:, None], 2)[:, 0]
            covered = F.avg_pool2d(cover[None, None], 2)[0, 0]
            hb, wb = layout.blocks_hw
            block_cover = covered[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK).amin((1, 3))
            yield canon, (block_cover >= 1).float().reshape(-1)


    def _pitch_crop_candidates(self, layout: _Layout, frames: torch.Tensor, top: int = 2):
        """Yield (canonical luma, valid block mask) for the best crops of a standard-size frame.

        Busy blocks carry no spatial pilot pattern for `_resync_candidates` to find: their pilot chips
        are quantised. A crop kept at its pixel size (what a re-shared clip usually is) has the pitch
        of its source, and a source has a standard size (CROP_SOURCES; at most one admits a given
        crop size): every phase of the canonical windows and every canonical offset is tried, scored
        by the quantised pilot's reading (known signs) on a few of the clip's frames.
        """
        hc, wc = layout.canon_hw
        n, h, w, _ = frames.shape
        for short, long in CROP_SOURCES:
            src_h, src_w = (short, long) if w >= h else (long, short)
            if not (MIN_CROP * src_h <= h <= src_h and MIN_CROP * src_w <= w <= src_w) or (h, w) == (src_h, src_w):
                continue
            pitch = (src_h / hc, src_w / wc)
            picks = frames[torch.linspace(0, n - 1, min(n, CROP_SEARCH_FRAMES)).round().long()]
            luma = _frame_luma(picks)
            scored = []
            for sy in _window_phases(pitch[0]):
                rows = _window_means(luma, pitch[0], sy, dim=1)
                for sx in _window_phases(pitch[1]):
                    score, y0, x0 = layout.pilot_scan(_window_means(rows, pitch[1], sx, dim=2), (hc, wc))
                    scored.append((score, sy, sx, y0, x0))
            scored.sort(reverse=True)
            chunk = self._chunk(frames.device)  # a float copy of every frame at once could be gigabytes
            for _, sy, sx, y0, x0 in scored[:top]:
                canon = torch.cat([
                    _window_means(_window_means(_frame_luma(frames[i:i + chunk]), pitch[0], sy, dim=1),
                                  pitch[1], sx, dim=2)
                    for i in range(0, n, chunk)])
                hh, ww = min(canon.shape[1], hc - y0), min(canon.shape[2], wc - x0)
                placed = torch.zeros(n, hc, wc, device=frames.device)
                placed[:, y0:y0 + hh, x0:x0 + ww] = canon[:, :hh, :ww]
                cover = torch.zeros(hc, wc, device=frames.device)
                cover[y0:y0 + hh, x0:x0 + ww] = 1
                hb, wb = layout.blocks_hw
                block_cover = cover[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK).amin((1, 3))
                yield placed, block_cover.reshape(-1)


def _window_phases(pitch: float) -> list[float]:
    """Where the source's canonical windows may start in a crop, in pixels from its edge: every whole
    pixel for a whole pitch (every few at 4K: finer is not worth it), thirds of a pixel for 480p's
    fractional one (8/3 exactly on 480 rows, within 0.002 px a window on 854 columns)."""
    if float(pitch).is_integer():
        return list(range(0, int(pitch), max(1, int(pitch) // 6)))
    return [i / 3 for i in range(int(3 * pitch))]


def _window_means(x: torch.Tensor, pitch: float, phase: float, *, dim: int) -> torch.Tensor:
    """Means of (N, h, w) over windows [phase + k pitch, phase + (k + 1) pitch) along `dim` (1: rows,
    2: columns); a pooling for whole pitches and phases, exact pixel-overlap weights otherwise."""
    if float(pitch).is_integer() and float(phase).is_integer():
        kept = x.narrow(dim, int(phase), x.shape[dim] - int(phase))
        kernel = (int(pitch), 1) if dim == 1 else (1, int(pitch))
        return F.avg_pool2d(kept[:, None], kernel)[:, 0]
    weights = _window_weights(x.shape[dim], pitch, phase, None, x.device)
    return weights @ x if dim == 1 else x @ weights.T


def _frame_luma(frames: torch.Tensor) -> torch.Tensor:
    rgb = frames.permute(0, 3, 1, 2).float()
    return _luma(rgb[:, 0], rgb[:, 1], rgb[:, 2])


def _correction(margin: torch.Tensor, host_margin: torch.Tensor) -> torch.Tensor:
    # Never less than BASE * margin: content that carries a bit today is smoothed away by a hard
    # encode at 360p tomorrow, so every group keeps a share of its own signal.
    return torch.maximum(margin - host_margin, BASE * margin)


def _saturate(soft: np.ndarray) -> np.ndarray:
    """Each frame's soft values clipped at SATURATE times their median magnitude.

    On busy texture the embedder cannot afford to flip the few coded bits the content opposes most
    (see _fit_margin): they arrive wrong *and* confident, and outweigh many right ones in the
    Viterbi metric. Clipped, they count as ordinary errors, which the code corrects. On clean
    Gaussian-like values clipping loses a little, so it is the second reading, not the first.
    """
    limit = SATURATE * np.median(np.abs(soft), axis=1, keepdims=True)
    return np.clip(soft, -limit, limit)


def _frame_numbers(frame_scores: np.ndarray, members: np.ndarray) -> dict[int, int]:
    """Frame index per clip position for the frames of one segment word.

    Frames of a segment are consecutive, so a clip reads one offset (index - position) over all of
    them: after inter-frame coding that is the only trustworthy reading, because an H.264 P-frame
    keeps most of its reference's frame field and alone reads as its GOP's first frame. A lone
    frame (a still, a screenshot) is read by itself.
    """
    if len(members) == 1:
        i = int(members[0])
        k = int(np.argmax(frame_scores[i]))
        return {i: k} if frame_scores[i, k] >= FRAME_Z else {}
    offset = _clip_frame_offset(frame_scores, tuple(int(i) for i in members))
    if offset is None:
        return {}
    return {int(i): int(i) + offset for i in members if 0 <= i + offset < pl.FRAME_VALUES}


def _clip_frame_offset(frame_scores: np.ndarray, frames: tuple[int, ...]) -> int | None:
    """The offset o (frame index = clip position + o) that the frames' codeword scores agree on, if
    its combined z-score reaches CLIP_FRAME_Z. Every frame must land on a valid index."""
    pos = np.asarray(frames)
    offsets = np.arange(-pos.min(), pl.FRAME_VALUES - pos.max())
    if offsets.size == 0:
        return None
    z = frame_scores[pos[None, :], pos[None, :] + offsets[:, None]].sum(1) / math.sqrt(len(pos))
    best = int(np.argmax(z))
    return int(offsets[best]) if z[best] >= CLIP_FRAME_Z else None


def _fit_margin(host_margin: torch.Tensor, cost: torch.Tensor, strength: float, budget: float):
    """Per frame, the margin M <= strength and the groups to serve, within the energy budget.

    Serving a group costs max(M - h, 0)^2 * cost. When even M = strength does not fit (busy texture),
    the ABANDON share of groups whose host opposes most are left to the error-correcting code, and M
    is the largest margin that fits for the rest, found by bisection (energy grows with M).
    """
    def energy(m, served):
        return (_correction(m, host_margin).pow(2) * cost * served).sum(1, keepdim=True)

    everyone = torch.ones_like(host_margin)
    hi = torch.full((host_margin.shape[0], 1), strength, device=host_margin.device)
    fits = energy(hi, everyone) <= budget
    cut = torch.quantile(host_margin, ABANDON, dim=1, keepdim=True)
    served = torch.where(fits, everyone, (host_margin >= cut).float())
    lo = torch.zeros_like(hi)
    for _ in range(20):
        mid = (lo + hi) / 2
        ok = energy(mid, served) <= budget
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    return torch.where(fits, torch.full_like(lo, strength), lo), served


def _unit_variance(values: torch.Tensor) -> torch.Tensor:
    """Each frame's values scaled to unit mean square over its non-zero entries."""
    used = (values != 0).sum(1, keepdim=True).clamp(min=1)
    return values / values.pow(2).sum(1, keepdim=True).div(used).sqrt().clamp(min=1e-9)


def _reliability(z: torch.Tensor, pilot: torch.Tensor) -> torch.Tensor:
    """(N, 1) combining weight mean / variance of unit-variance chip values, estimated on the pilot
    chips (always +1). Floored, so that a channel that reads nothing still counts a little."""
    used = (z[:, pilot] != 0).sum(1, keepdim=True).clamp(min=1)
    mean = z[:, pilot].sum(1, keepdim=True) / used
    return (mean / (1 - mean.pow(2)).clamp(min=0.1)).clamp(min=0.01)


def _activity(coefs: torch.Tensor) -> torch.Tensor:
    """RMS of each block's AC coefficients, (N, Hb, Wb)."""
    return coefs.pow(2).sum((-1, -2)).sub(coefs[..., 0, 0].pow(2)).clamp(min=0).div(BLOCK * BLOCK - 1).sqrt()


def _detector_weight(activity: torch.Tensor) -> torch.Tensor:
    """How much the detector trusts a block's chips: masking / (host activity^2 + noise^2)."""
    return _mask(activity) / (activity.pow(2) + NOISE_FLOOR**2)


def _mask(activity: torch.Tensor) -> torch.Tensor:
    return (activity / ACTIVITY_REF).clamp(MASK_MIN, MASK_MAX)


def _whiten(img: torch.Tensor) -> torch.Tensor:
    """Remove the local mean and equalise local contrast, so content does not swamp the pilot."""
    x = img[None, None]
    local_mean = F.avg_pool2d(F.pad(x, (4, 4, 4, 4), mode="replicate"), 9, stride=1)
    hp = x - local_mean
    local_rms = F.avg_pool2d(F.pad(hp * hp, (8, 8, 8, 8), mode="replicate"), 17, stride=1).sqrt()
    return (hp / (local_rms + 1.0))[0, 0]


def _bit_accuracy(soft: np.ndarray, key: bytes, stream_id: int, segment: int) -> float:
    signs = pl.segment_codeword(key, stream_id, segment).astype(bool)
    return float(((soft > 0) == signs).mean())
