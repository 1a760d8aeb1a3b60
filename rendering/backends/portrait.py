"""The built-in renderer: an audio-driven portrait animator in torch.

The normalised portrait is warped with one batched `grid_sample` per segment. The sampling grid of
every frame is built from the face geometry:

* the head turns, sways, nods and breathes (a rigid rotation / translation / scale about the neck,
  fading out towards the shoulders and the frame);
* the jaw and lower lip drop and the upper lip lifts with the audio's loudness, the mouth widens
  for bright sounds ("ee", "s") and rounds for dark ones ("oo"); the gap between the lips shows
  the mouth's inside (shadow, upper teeth, tongue);
* the eyelids close in blinks at irregular intervals.

Motion depends only on the absolute frame index, the clone and the audio of that frame, so
segments rendered separately join without a jump and the same inputs give the same frames.

Speed: only the head region is warped, at no more than the portrait's own resolution, and then
scaled to the output in uint8; the background, the body and the layout are precomputed once per
output size (`PreparedPortrait.layout`).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..faces import check_geometry
from ..media import audio_features
from .base import AUDIO_SAMPLE_RATE, PreparedClone, check_portrait, check_render_request, resolve_device

RENDER_BATCH = 64  # frames warped at once (≈ 0.3 GB of float working set at 1080p)
GRID_STEP = 4  # the motion field is computed on a grid this many warp pixels apart, then upsampled
CARD_FEATHER = 0.07  # soft edge of the portrait over the background, as a share of its side

# Motion amplitudes, in fractions of the portrait side unless said otherwise.
SWAY_DEGREES = (1.6, 0.7)  # two slow rotations (tilt) at incommensurate rates
SWAY_SHIFT = (0.006, 0.003)
BREATH_RATE_HZ = 0.23
BREATH_SCALE = 0.004
BREATH_SHIFT = 0.0025
NOD = 0.003  # the head dips a little on loud words
MOUTH_OPEN = 0.3  # widest lip gap, as a share of the mouth's width
MOUTH_WIDEN = 0.12  # stretch of the mouth corners at full "ee", as a share of their distance
BLINK_SLOT_SECONDS = 3.2  # on average one blink per slot, at a random moment within it
BLINK_CLOSE_SECONDS, BLINK_HOLD_SECONDS, BLINK_OPEN_SECONDS = 0.08, 0.06, 0.16
EYE_RADII = (0.56, 0.4)  # the eyelid's reach around the eye's centre, as shares of the eye box


def _smoothstep(edge0, edge1, x):
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class _Layout:
    """Everything about one output size that does not change from frame to frame."""

    static: torch.Tensor  # (H, W, 3) uint8: background, body, and the resting head
    roi: tuple[int, int, int, int]  # warped region in frame pixels: x0, y0, w, h
    warp_size: tuple[int, int]  # (h, w) at which the region is warped before scaling to the roi
    roi_fraction: tuple[float, float, float, float]  # region in portrait fractions: u0, v0, u1, v1
    identity: torch.Tensor  # (1, h, w, 2) grid_sample coordinates of the resting region
    coarse_u: torch.Tensor  # (1, ch, cw) portrait fractions of the coarse motion grid
    coarse_v: torch.Tensor
    head_weight: torch.Tensor  # (1, ch, cw): 1 on the head, 0 at the region's border


@dataclass
class PreparedPortrait(PreparedClone):
    # (1, 3, S, S) float32: pixel values + 0.5, so that truncating to uint8 rounds (one pass fewer).
    portrait: torch.Tensor = None
    geometry: dict = None
    motion_seed: int = 0
    lid_skin: torch.Tensor = None  # like `portrait`, smoothed: what the eyelids are painted with
    layouts: dict = field(default_factory=dict)


class PortraitAnimator:
    """Audio-driven portrait animation with batched `grid_sample` (CUDA when present)."""

    name = "portrait-animator"
    version = "1.0"

    def __init__(
        self, *, weights_dir: str | None = None, expressiveness: float = 1.0, uint8_resize: bool | None = None
    ):
        # `weights_dir` is accepted so that settings can switch backends without code changes;
        # this backend is procedural and loads no weights.
        if not 0.0 <= expressiveness <= 2.0:
            raise ValueError(f"expressiveness must be between 0 and 2; got {expressiveness}.")
        self.expressiveness = expressiveness
        # Scaling the warped region in uint8 is fastest on CPU; CUDA only scales floats. None picks by device.
        self.uint8_resize = uint8_resize

    # --- prepare -----------------------------------------------------------------------------

    def prepare(self, portrait: np.ndarray, geometry: dict, *, device="auto") -> PreparedPortrait:
        portrait = check_portrait(portrait)
        geometry = check_geometry(geometry)
        if portrait.shape[0] != portrait.shape[1]:
            raise ValueError(
                f"The portrait must be square (see rendering.faces.normalise_portrait); got {portrait.shape}."
            )
        device = resolve_device(device)
        size = portrait.shape[0]
        # Eyelids are painted with the skin around the eye, smoothed so that one row's grain
        # does not streak down the lid.
        lid_skin = cv2.GaussianBlur(portrait, (0, 0), size * 0.006)
        digest = hashlib.sha256(portrait.tobytes()).digest()
        return PreparedPortrait(
            backend=self.name,
            version=self.version,
            device=device,
            portrait=torch.from_numpy(portrait).to(device).permute(2, 0, 1).unsqueeze(0).float().add(0.5).contiguous(),
            geometry=dict(geometry),
            motion_seed=int.from_bytes(digest[:4], "little"),
            lid_skin=torch.from_numpy(lid_skin).to(device).permute(2, 0, 1).unsqueeze(0).float().add(0.5).contiguous(),
        )

    def layout(self, prepared: PreparedPortrait, width: int, height: int) -> _Layout:
        """The precomputed layout for one output size (built on first use, then cached)."""
        key = (width, height)
        if key not in prepared.layouts:
            prepared.layouts[key] = self._build_layout(prepared, width, height)
        return prepared.layouts[key]

    def _build_layout(self, prepared: PreparedPortrait, width: int, height: int) -> _Layout:
        device = prepared.device
        size = prepared.portrait.shape[-1]
        source = prepared.portrait[0].permute(1, 2, 0).to("cpu").numpy().astype(np.uint8)  # drops the 0.5
        # The portrait card: landscape fills the height; vertical overfills the width (the sides
        # of the square crop are mostly background) from the top, the face in the upper third.
        side = height if width >= height else min(int(round(width * 1.45)), height)
        left, top = (width - side) // 2, 0
        card = cv2.resize(source, (side, side), interpolation=cv2.INTER_AREA if side < size else cv2.INTER_LINEAR)
        # The visible part of the card, in card pixels.
        cx0, cy0 = max(0, -left), max(0, -top)
        cx1, cy1 = min(side, width - left), min(side, height - top)
        # Background: the card's own edges stretched out to the frame and blurred, darkened a little
        # so the sharp portrait stands out, with no seam where the card fades into it.
        backdrop = cv2.copyMakeBorder(
            cv2.GaussianBlur(card[cy0:cy1, cx0:cx1], (0, 0), side * 0.01),
            top + cy0, height - (top + cy1), left + cx0, width - (left + cx1), cv2.BORDER_REPLICATE,
        )
        backdrop = cv2.GaussianBlur(backdrop, (0, 0), max(width, height) * 0.015)
        frame = backdrop.astype(np.float32) * 0.85 + 8.0
        # Soft edges only where the card ends inside the frame.
        ramp = max(2, int(round(side * CARD_FEATHER)))
        position = np.arange(side, dtype=np.float32)
        alpha_x = np.ones(side, np.float32)
        alpha_y = np.ones(side, np.float32)
        if left > 0:
            alpha_x = np.minimum(alpha_x, np.clip(position / ramp, 0, 1))
        if left + side < width:
            alpha_x = np.minimum(alpha_x, np.clip((side - 1 - position) / ramp, 0, 1))
        if top > 0:
            alpha_y = np.minimum(alpha_y, np.clip(position / ramp, 0, 1))
        if top + side < height:
            alpha_y = np.minimum(alpha_y, np.clip((side - 1 - position) / ramp, 0, 1))
        alpha = alpha_y[:, None] * alpha_x[None, :]
        region = frame[top + cy0 : top + cy1, left + cx0 : left + cx1]
        a = alpha[cy0:cy1, cx0:cx1, None]
        region[:] = region * (1 - a) + card[cy0:cy1, cx0:cx1].astype(np.float32) * a
        frame = frame.clip(0, 255).astype(np.uint8)

        # The warped region: the head box, inside the opaque card and the frame.
        g = prepared.geometry
        fx, fy, fw, fh = g["face"]
        margin = ramp / side + 1e-3
        u0 = max(fx - 0.45 * fw, margin if alpha_x[0] < 1 else 0.0, cx0 / side)
        u1 = min(fx + 1.45 * fw, 1 - margin if alpha_x[-1] < 1 else 1.0, cx1 / side)
        v0 = max(fy - 0.5 * fh, margin if alpha_y[0] < 1 else 0.0, cy0 / side)
        v1 = min(fy + 1.45 * fh, 1 - margin if alpha_y[-1] < 1 else 1.0, cy1 / side)
        x0, x1 = int(math.ceil(u0 * side)), int(math.floor(u1 * side))
        y0, y1 = int(math.ceil(v0 * side)), int(math.floor(v1 * side))
        roi_w, roi_h = x1 - x0, y1 - y0
        if min(roi_w, roi_h) < 8:
            raise ValueError(
                f"The face geometry {g['face']} leaves no head region in a {width}x{height} frame; rebuild the clone."
            )
        u0, u1, v0, v1 = x0 / side, x1 / side, y0 / side, y1 / side
        scale = min(1.0, size / side)  # never warp above the portrait's own resolution
        warp_w, warp_h = max(8, int(round(roi_w * scale))), max(8, int(round(roi_h * scale)))

        us = u0 + (torch.arange(warp_w, dtype=torch.float32, device=device) + 0.5) / warp_w * (u1 - u0)
        vs = v0 + (torch.arange(warp_h, dtype=torch.float32, device=device) + 0.5) / warp_h * (v1 - v0)
        identity = torch.stack(torch.broadcast_tensors(us[None, :] * 2 - 1, vs[:, None] * 2 - 1), dim=-1)[None]
        # The coarse motion grid runs from the first to the last warp pixel's centre, so that
        # bilinear upsampling (align_corners=True) reproduces the resting position exactly.
        coarse_w, coarse_h = warp_w // GRID_STEP + 2, warp_h // GRID_STEP + 2
        cu = torch.linspace(us[0].item(), us[-1].item(), coarse_w, device=device)[None, None, :]
        cv = torch.linspace(vs[0].item(), vs[-1].item(), coarse_h, device=device)[None, :, None]
        cu, cv = cu.expand(1, coarse_h, coarse_w), cv.expand(1, coarse_h, coarse_w)
        # Head weight: 1 over the head, fading out beyond it and to 0 at the region's border.
        hx, hy = fx + fw / 2, fy + 0.42 * fh
        r = torch.sqrt(((cu - hx) / (0.75 * fw)) ** 2 + ((cv - hy) / (0.95 * fh)) ** 2)
        border = torch.minimum(
            torch.minimum((cu - u0) / (u1 - u0), (u1 - cu) / (u1 - u0)),
            torch.minimum((cv - v0) / (v1 - v0), (v1 - cv) / (v1 - v0)),
        )
        head_weight = (1 - _smoothstep(0.95, 1.45, r)) * _smoothstep(0.0, 0.12, border)

        layout = _Layout(
            static=torch.from_numpy(frame).to(device),
            roi=(left + x0, top + y0, roi_w, roi_h),
            warp_size=(warp_h, warp_w),
            roi_fraction=(u0, v0, u1, v1),
            identity=identity.contiguous(),
            coarse_u=cu.contiguous(),
            coarse_v=cv.contiguous(),
            head_weight=head_weight.contiguous(),
        )
        # The resting head goes through the same warp-and-scale path as the animated one, so that
        # the region's border matches the frame around it exactly.
        rest = self._warp(prepared, layout, layout.identity)
        x, y, w, h = layout.roi
        layout.static[y : y + h, x : x + w] = rest[0]
        return layout

    # --- render ------------------------------------------------------------------------------

    def render(
        self,
        prepared: PreparedPortrait,
        audio_window: np.ndarray,
        *,
        first_frame_index: int,
        n_frames: int,
        fps: int,
        width: int,
        height: int,
    ) -> torch.Tensor:
        if not isinstance(prepared, PreparedPortrait):
            raise ValueError("render() needs the PreparedPortrait that this backend's prepare() returned.")
        audio = check_render_request(
            audio_window, first_frame_index=first_frame_index, n_frames=n_frames, fps=fps, width=width, height=height
        )
        first_frame_index, n_frames, fps = int(first_frame_index), int(n_frames), int(fps)
        width, height = int(width), int(height)
        layout = self.layout(prepared, width, height)
        params = self.motion(prepared, audio, first_frame_index=first_frame_index, n_frames=n_frames, fps=fps)
        # The static parts around the animated region, then the region itself (each pixel written once).
        x, y, w, h = layout.roi
        static = layout.static
        frames = torch.empty((n_frames, height, width, 3), dtype=torch.uint8, device=static.device)
        frames[:, :y] = static[:y]
        frames[:, y + h :] = static[y + h :]
        frames[:, y : y + h, :x] = static[y : y + h, :x]
        frames[:, y : y + h, x + w :] = static[y : y + h, x + w :]
        # Batches of at most RENDER_BATCH frames bound the float working set on long windows.
        for start in range(0, n_frames, RENDER_BATCH):
            batch = {key: value[start : start + RENDER_BATCH] for key, value in params.items()}
            grid, boxes = self._grid(prepared, layout, batch)
            frames[start : start + RENDER_BATCH, y : y + h, x : x + w] = self._warp(prepared, layout, grid, batch, boxes)
        return frames

    def motion(
        self, prepared: PreparedPortrait, audio: np.ndarray, *, first_frame_index: int, n_frames: int, fps: int
    ) -> dict:
        """Per-frame animation parameters (tensors of length N on the device)."""
        features = audio_features(audio, fps=fps, n_frames=n_frames, sample_rate=AUDIO_SAMPLE_RATE)
        loud = features.loudness.astype(np.float64)
        # Quiet sound leaves the lips together; open vowels carry their energy in the first-formant
        # band, while fricatives ("s", "f") hardly open the jaw.
        level = np.clip((loud - 0.3) / 0.62, 0.0, 1.0)
        level = level * level * (3 - 2 * level)
        openness = np.clip(level * (0.6 + 0.4 * features.mid + 0.2 * features.low - 0.4 * features.high), 0.0, 1.0)
        widen = np.tanh(4.0 * (features.high - 0.5 * features.low - 0.05)) * np.clip(3.0 * loud, 0.0, 1.0)

        t = (first_frame_index + np.arange(n_frames, dtype=np.float64)) / fps
        rng = np.random.default_rng(prepared.motion_seed)
        phases = rng.uniform(0.0, 2 * math.pi, 5)
        rates = rng.uniform(0.8, 1.25, 4)
        e = self.expressiveness
        angle = math.radians(1.0) * e * (
            SWAY_DEGREES[0] * np.sin(2 * math.pi * 0.09 * rates[0] * t + phases[0])
            + SWAY_DEGREES[1] * np.sin(2 * math.pi * 0.23 * rates[1] * t + phases[1])
        )
        shift_x = e * (
            SWAY_SHIFT[0] * np.sin(2 * math.pi * 0.06 * rates[2] * t + phases[2])
            + SWAY_SHIFT[1] * np.sin(2 * math.pi * 0.17 * rates[3] * t + phases[3])
        )
        breath = np.sin(2 * math.pi * BREATH_RATE_HZ * t + phases[4])
        # The nod follows the loudness smoothed over ~0.2 s: a gentle dip on stressed words, no jitter.
        reach = max(1, int(round(0.1 * fps)))
        kernel = np.hanning(2 * reach + 3)[1:-1]
        nod = np.convolve(np.pad(loud, reach, mode="edge"), kernel / kernel.sum(), mode="valid")
        shift_y = e * (BREATH_SHIFT * breath + NOD * nod)
        scale = 1.0 + e * BREATH_SCALE * breath
        blink = self._blinks(prepared.motion_seed, t)
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=prepared.device)  # noqa: E731
        return {
            "open": as_tensor(openness * min(e, 1.5)),
            "widen": as_tensor(widen * min(e, 1.5)),
            "blink": as_tensor(blink),
            "angle": as_tensor(angle),
            "shift_x": as_tensor(shift_x),
            "shift_y": as_tensor(shift_y),
            "scale": as_tensor(scale),
        }

    @staticmethod
    def _blinks(seed: int, t: np.ndarray) -> np.ndarray:
        """Eyelid closure in [0, 1] at absolute times `t`: one blink at a seeded moment per slot."""
        closure = np.zeros_like(t)
        first, last = int(t.min() // BLINK_SLOT_SECONDS) - 1, int(t.max() // BLINK_SLOT_SECONDS) + 1
        for slot in range(max(0, first), last + 1):
            draw = np.random.default_rng([seed, slot]).random(2)
            moments = [slot * BLINK_SLOT_SECONDS + 0.3 + draw[0] * (BLINK_SLOT_SECONDS - 0.6)]
            if draw[1] < 0.15:  # now and then a double blink
                moments.append(moments[0] + 0.45)
            for moment in moments:  # the lid is fully down from `moment` for the hold time
                dt = t - moment
                closing = np.clip((dt + BLINK_CLOSE_SECONDS) / BLINK_CLOSE_SECONDS, 0.0, 1.0)
                opening = np.clip(1.0 - (dt - BLINK_HOLD_SECONDS) / BLINK_OPEN_SECONDS, 0.0, 1.0)
                closure = np.maximum(closure, np.minimum(closing, opening))
        return closure

    def _grid(self, prepared: PreparedPortrait, layout: _Layout, p: dict) -> tuple[torch.Tensor, dict]:
        """Sampling grids (N, h, w, 2): for each warp pixel, where in the portrait to read; and the
        boxes of the warp region where the mouth's inside and the eyelids are to be painted."""
        g = prepared.geometry
        fx, fy, fw, fh = g["face"]
        mx, my, mw, mh = g["mouth"]
        col = lambda v: v[:, None, None]  # noqa: E731
        u, v = layout.coarse_u, layout.coarse_v
        # Rigid head motion about the neck, inverted (output → resting head), weighted to the head.
        pivot_x, pivot_y = fx + fw / 2, fy + 1.2 * fh
        cos, sin, scale = col(torch.cos(p["angle"])), col(torch.sin(p["angle"])), col(p["scale"])
        du = u - pivot_x - col(p["shift_x"])
        dv = v - pivot_y - col(p["shift_y"])
        rigid_u = pivot_x + (cos * du + sin * dv) / scale
        rigid_v = pivot_y + (-sin * du + cos * dv) / scale
        w = layout.head_weight
        qu = u + w * (rigid_u - u)
        qv = v + w * (rigid_v - v)

        # The mouth, in head coordinates: the lips' seam band [my - a, my + a] of the portrait is
        # stretched over the opened gap; above, the upper lip lifts; below, lower lip and jaw drop.
        gap = col(p["open"]) * MOUTH_OPEN * mw
        up, down = 0.25 * gap, 0.75 * gap
        a = 0.12 * mh
        lo, hi = my - a - up, my + a + down
        lift = -up + (up + down) * ((qv - lo) / (hi - lo)).clamp(0.0, 1.0)
        dx = qu - mx
        lip_x = torch.exp(-((dx / (0.6 * mw)) ** 2))
        jaw_x = torch.exp(-((dx / (0.42 * fw)) ** 2))
        chin = fy + 1.04 * fh
        above = torch.exp(-(((my - qv).clamp(min=0.0)) / (0.7 * mh)) ** 2) * lip_x
        below = (1 - _smoothstep(chin, chin + 0.15 * fh, qv)) * (0.45 * lip_x + 0.55 * jaw_x)
        dv_mouth = lift * torch.where(lift < 0, above, below)
        widen = col(p["widen"]) * MOUTH_WIDEN
        du_mouth = widen * dx * torch.exp(-((dx / (0.75 * mw)) ** 2) - ((qv - my) / (1.1 * mh)) ** 2)
        src_u = qu - du_mouth
        src_v = qv - dv_mouth

        coarse = torch.stack((src_u * 2 - 1, src_v * 2 - 1), dim=1)  # (N, 2, ch, cw) in grid_sample units
        grid = F.interpolate(coarse, size=layout.warp_size, mode="bilinear", align_corners=True).permute(0, 2, 3, 1)

        # Where the mouth's inside and the eyelids must be painted: the warp pixels that read
        # from those parts of the portrait in any frame.
        boxes = {}
        if bool((p["open"] > 0.01).any()):
            half = 0.5 * mw * (1 + MOUTH_WIDEN)
            boxes["mouth"] = self._coarse_box(layout, src_u, src_v, (mx - half, my - 1.2 * a, mx + half, my + 1.2 * a))
        if bool((p["blink"] > 0).any()):
            for key in ("left_eye", "right_eye"):
                ex, ey, ew, eh = g[key]
                rx, ry = EYE_RADII[0] * ew, EYE_RADII[1] * eh
                boxes[key] = self._coarse_box(layout, src_u, src_v, (ex - rx, ey - ry, ex + rx, ey + ry))
        return grid, boxes

    @staticmethod
    def _coarse_box(layout: _Layout, src_u, src_v, box):
        """Rows and columns of the warp region that read from `box` (portrait fractions) in any frame."""
        u0, v0, u1, v1 = box
        hit = ((src_u >= u0) & (src_u <= u1) & (src_v >= v0) & (src_v <= v1)).any(dim=0)
        rows = torch.nonzero(hit.any(dim=1)).flatten().tolist()
        cols = torch.nonzero(hit.any(dim=0)).flatten().tolist()
        if not rows or not cols:
            return None
        h, w = layout.warp_size
        ch, cw = hit.shape
        # Coarse cell i sits at warp pixel i * (size - 1) / (cells - 1); keep one cell of margin.
        r0 = max(0, math.floor((rows[0] - 1) * (h - 1) / (ch - 1)))
        r1 = min(h, math.ceil((rows[-1] + 1) * (h - 1) / (ch - 1)) + 1)
        c0 = max(0, math.floor((cols[0] - 1) * (w - 1) / (cw - 1)))
        c1 = min(w, math.ceil((cols[-1] + 1) * (w - 1) / (cw - 1)) + 1)
        return slice(r0, r1), slice(c0, c1)

    def _warp(
        self, prepared: PreparedPortrait, layout: _Layout, grid, p: dict | None = None, boxes=None
    ) -> torch.Tensor:
        """Warp the head region, paint the mouth's inside and the eyelids, scale to the frame: (N, h, w, 3) uint8."""
        n = grid.shape[0]
        source = prepared.portrait.expand(n, -1, -1, -1)
        region = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        for key, box in (boxes or {}).items():
            if box is None:
                continue
            if key == "mouth":
                self._paint_mouth(prepared, grid, region, box, p["open"], p["widen"])
            else:
                self._paint_eyelid(prepared, grid, region, box, key, p["blink"])
        _, _, roi_w, roi_h = layout.roi
        uint8_resize = self.uint8_resize if self.uint8_resize is not None else prepared.device.type == "cpu"
        if (region.shape[-2], region.shape[-1]) == (roi_h, roi_w):
            scaled = region
        elif uint8_resize:
            region = region.to(torch.uint8, memory_format=torch.channels_last)
            scaled = F.interpolate(region, size=(roi_h, roi_w), mode="bilinear", align_corners=False)
        else:
            scaled = F.interpolate(region, size=(roi_h, roi_w), mode="bilinear", align_corners=False)
        if scaled.dtype != torch.uint8:
            scaled = scaled.clamp_(0, 255).to(torch.uint8, memory_format=torch.channels_last)
        return scaled.permute(0, 2, 3, 1)

    def _paint_mouth(self, prepared, grid, region, box, openness, widen):
        mx, my, mw, mh = prepared.geometry["mouth"]
        rows, cols = box
        part = grid[:, rows, cols]
        su, sv = (part[..., 0] + 1) / 2, (part[..., 1] + 1) / 2  # where each pixel reads the portrait
        a = 0.12 * mh
        across = ((sv - (my - a)) / (2 * a)).clamp(0.0, 1.0)  # 0 at the upper lip, 1 at the lower
        opened = openness[:, None, None]
        half_width = 0.42 * mw * (1 + MOUTH_WIDEN * widen[:, None, None])
        ellipse = ((su - mx) / half_width) ** 2 + ((sv - my) / a) ** 2
        alpha = (1 - _smoothstep(0.55, 1.0, ellipse)) * (opened * 3.0).clamp(0.0, 1.0)
        device = region.device
        dark = torch.tensor([52.5, 20.5, 24.5], device=device)[:, None, None, None]  # + 0.5 like the portrait
        teeth = torch.tensor([226.5, 220.5, 208.5], device=device)[:, None, None, None]
        tongue = torch.tensor([150.5, 62.5, 70.5], device=device)[:, None, None, None]
        show_teeth = (1 - _smoothstep(0.18, 0.32, across)) * _smoothstep(0.2, 0.45, opened)
        show_tongue = _smoothstep(0.7, 0.95, across) * 0.8
        inside = dark + (teeth - dark) * show_teeth + (tongue - dark) * show_tongue
        inside = inside * (0.75 + 0.25 * (1 - ((su - mx) / half_width).abs().clamp(0, 1)))  # darker corners
        target = region[:, :, rows, cols]
        target += (inside.permute(1, 0, 2, 3) - target) * alpha[:, None]

    def _paint_eyelid(self, prepared, grid, region, box, key, blink):
        """Lower the upper lid: cover the eye from the top with the skin just above it, lashes at its edge."""
        ex, ey, ew, eh = prepared.geometry[key]
        rx, ry = EYE_RADII[0] * ew, EYE_RADII[1] * eh
        rows, cols = box
        part = grid[:, rows, cols]
        su, sv = (part[..., 0] + 1) / 2, (part[..., 1] + 1) / 2
        b = blink[:, None, None]
        inside = 1 - _smoothstep(0.75, 1.0, ((su - ex) / rx) ** 2 + ((sv - ey) / ry) ** 2)
        lid_edge = ey - ry + b * 2.1 * ry  # fully down, the lid meets the lower lid
        covered = 1 - _smoothstep(lid_edge - 0.1 * ry, lid_edge + 0.1 * ry, sv)
        lash = torch.exp(-(((sv - lid_edge) / (0.14 * ry)) ** 2)) * b
        # The lid's skin: each column mixes the portrait just above the eye (often in shadow) with
        # the lit skin below it.
        skin = prepared.lid_skin.expand(part.shape[0], -1, -1, -1)
        lid = 0
        for row in (ey - 1.35 * ry, ey + 2.2 * ry):
            skin_grid = torch.stack((part[..., 0], torch.full_like(part[..., 1], 2 * row - 1)), dim=-1)
            lid = lid + 0.5 * F.grid_sample(
                skin, skin_grid, mode="bilinear", padding_mode="border", align_corners=False
            )
        shade = (0.9 + 0.1 * ((sv - (ey - ry)) / (2 * ry)).clamp(0, 1))[:, None]  # the crease darker
        lash = lash[:, None]
        lid = lid * shade * (1 - 0.7 * lash) + 25.5 * 0.7 * lash
        alpha = (inside * torch.maximum(covered * (b > 0.02), lash[:, 0]))[:, None]
        target = region[:, :, rows, cols]
        target += (lid - target) * alpha
