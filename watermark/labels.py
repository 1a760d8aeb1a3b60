"""GB 45438-2025 explicit (visible) label for synthetic video.

The rule (§5.1, §5.4): the text contains "AI" and "生成"; its height is at least 5 % of the frame's
shortest side; it is shown on the opening frames for at least 2 s. The Live-streaming E-commerce
Supervision Measures add that viewers are prompted continuously, so after the opening banner a
corner badge stays on every frame.

The overlay is drawn once per (width, height) with Pillow and the font that ships in
`watermark/fonts/` (a subset of an OFL CJK font: no system font lookup), then kept on the frames'
device as a premultiplied colour + inverse alpha over the overlay's bounding box only, so that
blending a batch touches just those pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "ConsentframeLabelSans-Bold.otf"
BADGE_TEXT = "AI生成"
NOTICE_TEXT = "本直播由AI数字人生成"
LABEL_TEXTS = (BADGE_TEXT, NOTICE_TEXT)

PROMINENT_SECONDS = 2.0
# Heights of the letters' ink as a share of the shortest side. The rule's floor is 5 %; we keep a
# margin so that rounding to whole pixels never takes a label under it.
BADGE_TEXT_SHARE = 0.056
BANNER_TITLE_SHARE = 0.11
BANNER_NOTICE_SHARE = 0.056
MIN_TEXT_SHARE = 0.05
# Correlation between a decoded frame and the overlay above which the label counts as present.
PRESENCE_THRESHOLD = 0.6

_BOX_RGBA = (0, 0, 0, 185)
_TEXT_RGBA = (255, 255, 255, 255)
_ALPHA_SHIFT = 7
_ALPHA_ONE = 1 << _ALPHA_SHIFT


class LabelError(ValueError):
    code = "label_unsupported_size"


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass(frozen=True)
class Layout:
    """Where one overlay puts its boxes and the ink of its texts, in frame pixels."""

    boxes: tuple[Box, ...]
    texts: tuple[tuple[str, Box], ...]  # (text, ink bounding box)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size)


@lru_cache(maxsize=1)
def _ink_ratio() -> float:
    """Ink height of the label texts per pixel of font size (measured, not assumed)."""
    reference = 200
    font = _font(reference)
    heights = []
    for text in LABEL_TEXTS:
        left, top, right, bottom = font.getbbox(text)
        heights.append(bottom - top)
    return min(heights) / reference


def _font_for_ink(ink_px: float) -> ImageFont.FreeTypeFont:
    """The smallest font whose label texts' ink is at least `ink_px` tall."""
    size = max(8, math.ceil(ink_px / _ink_ratio()))
    while True:
        font = _font(size)
        if all(font.getbbox(text)[3] - font.getbbox(text)[1] >= ink_px for text in LABEL_TEXTS):
            return font
        size += 1


def _draw_text_box(layer: Image.Image, text_layer: Image.Image, lines, anchor_xy, align: str):
    """Draw `lines` [(text, font)] in one box; returns (box, [(text, ink box)])."""
    x_anchor, y_anchor = anchor_xy
    draw_text = ImageDraw.Draw(text_layer)
    pad = max(4, round(lines[0][1].size * 0.35))
    gap = max(2, round(lines[-1][1].size * 0.3))
    bboxes = [font.getbbox(text) for text, font in lines]
    widths = [b[2] - b[0] for b in bboxes]
    heights = [b[3] - b[1] for b in bboxes]
    inner_w = max(widths)
    inner_h = sum(heights) + gap * (len(lines) - 1)
    box_w, box_h = inner_w + 2 * pad, inner_h + 2 * pad
    if align == "right":
        left = x_anchor - box_w
    elif align == "center":
        left = x_anchor - box_w // 2
    else:
        left = x_anchor
    top = y_anchor
    box = Box(left, top, left + box_w, top + box_h)
    ImageDraw.Draw(layer).rounded_rectangle(
        (box.left, box.top, box.right - 1, box.bottom - 1), radius=pad, fill=_BOX_RGBA
    )
    inks = []
    y = top + pad
    for (text, font), bbox, width, height in zip(lines, bboxes, widths, heights):
        x = left + pad + (inner_w - width) // 2
        # Offset by the bbox origin so that the ink, not the font's line box, lands at (x, y).
        draw_text.text((x - bbox[0], y - bbox[1]), text, font=font, fill=_TEXT_RGBA)
        inks.append((text, Box(x, y, x + width, y + height)))
        y += height + gap
    return box, inks


def render_overlay(width: int, height: int, *, prominent: bool) -> tuple[Image.Image, Layout]:
    """The RGBA overlay for one frame size: the opening banner (`prominent`) or the corner badge."""
    if width < 64 or height < 64:
        raise LabelError(f"Frames of {width}x{height} are too small to label; use at least 64x64.")
    short = min(width, height)
    margin = max(4, round(short * 0.03))
    boxes_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    text_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if prominent:
        title = _font_for_ink(short * BANNER_TITLE_SHARE)
        notice = _font_for_ink(short * BANNER_NOTICE_SHARE)
        # Upper third: away from the host's face and from the comment area at the bottom.
        box, inks = _draw_text_box(
            boxes_layer, text_layer, [(BADGE_TEXT, title), (NOTICE_TEXT, notice)],
            (width // 2, round(height * 0.08)), "center",
        )
    else:
        badge = _font_for_ink(short * BADGE_TEXT_SHARE)
        box, inks = _draw_text_box(
            boxes_layer, text_layer, [(BADGE_TEXT, badge)], (width - margin, margin), "right"
        )
    if box.left < 0 or box.right > width or box.bottom > height:
        raise LabelError(f"The label does not fit a {width}x{height} frame; use a 16:9 or 9:16 size.")
    overlay = Image.alpha_composite(boxes_layer, text_layer)
    return overlay, Layout(boxes=(box,), texts=tuple(inks))


@dataclass(frozen=True)
class _Patch:
    """A precomputed overlay limited to its bounding box, ready to blend on a device."""

    box: Box
    # Blending in int16 with alpha in 1/128 steps: 255 × 128 fits, and it is 2-4× faster than float.
    premultiplied: torch.Tensor  # (h, w, 3) int16: colour × alpha × 128
    inverse_alpha: torch.Tensor  # (h, w, 1) int16: (1 − alpha) × 128
    expected_luma: np.ndarray  # (h, w) float32: the overlay's luma where it is opaque enough to check
    check_mask: np.ndarray  # (h, w) bool: pixels whose value the overlay nearly fixes


def _patch(overlay: Image.Image, layout: Layout, device) -> _Patch:
    box = layout.boxes[0]
    rgba = np.asarray(overlay.crop((box.left, box.top, box.right, box.bottom)), dtype=np.float32) / 255.0
    alpha = np.round(rgba[..., 3:4] * _ALPHA_ONE) / _ALPHA_ONE
    premultiplied = np.round(rgba[..., :3] * 255.0 * alpha * _ALPHA_ONE).astype(np.int16)
    inverse_alpha = np.round((1.0 - alpha) * _ALPHA_ONE).astype(np.int16)
    luma = (rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) * 255.0
    return _Patch(
        box=box,
        premultiplied=torch.from_numpy(premultiplied).to(device),
        inverse_alpha=torch.from_numpy(inverse_alpha).to(device),
        expected_luma=luma,
        check_mask=alpha[..., 0] > 0.7,
    )


_BLEND_CHUNK = 4  # frames per pass: keeps the int16 copy of the region in cache


def _blend(frames: torch.Tensor, patch: _Patch) -> None:
    b = patch.box
    for start in range(0, frames.shape[0], _BLEND_CHUNK):
        region = frames[start : start + _BLEND_CHUNK, b.top : b.bottom, b.left : b.right, :]
        mixed = region.to(torch.int16).mul_(patch.inverse_alpha).add_(patch.premultiplied)
        # Adding a half then shifting divides by 128 with rounding; the sum never exceeds 255 × 128.
        region.copy_(mixed.add_(_ALPHA_ONE // 2).bitwise_right_shift_(_ALPHA_SHIFT))


class ExplicitLabel:
    """The visible "AI生成" label for one stream geometry.

    `apply` changes the frames in place (and returns them): a prominent banner while the stream's
    frame index is under 2 s × fps, then a corner badge on every later frame.
    """

    def __init__(self, width: int, height: int, fps: int, device=None):
        if fps <= 0:
            raise LabelError("fps must be positive.")
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.prominent_frames = math.ceil(PROMINENT_SECONDS * self.fps)
        banner, self.banner_layout = render_overlay(self.width, self.height, prominent=True)
        badge, self.badge_layout = render_overlay(self.width, self.height, prominent=False)
        self._banner = _patch(banner, self.banner_layout, self.device)
        self._badge = _patch(badge, self.badge_layout, self.device)

    def apply(self, frames: torch.Tensor, first_frame_index: int) -> torch.Tensor:
        """Label a batch `(N, H, W, 3)` uint8 RGB whose first frame is the stream's frame `first_frame_index`."""
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != torch.uint8:
            raise LabelError(
                f"Expected uint8 frames shaped (N, {self.height}, {self.width}, 3), got {tuple(frames.shape)} "
                f"{frames.dtype}; build an ExplicitLabel for this frame size."
            )
        # torch.device("cuda") names the current GPU, while tensors always report "cuda:N".
        if frames.device.type != self.device.type or self.device.index not in (None, frames.device.index):
            raise LabelError(f"Frames are on {frames.device} but this label was built for {self.device}.")
        split = min(max(self.prominent_frames - first_frame_index, 0), frames.shape[0])
        if split:
            _blend(frames[:split], self._banner)
        if split < frames.shape[0]:
            _blend(frames[split:], self._badge)
        return frames

    def text_heights(self, *, prominent: bool) -> dict[str, int]:
        layout = self.banner_layout if prominent else self.badge_layout
        return {text: ink.height for text, ink in layout.texts}

    def presence(self, frame) -> dict:
        """How well a decoded RGB frame `(H, W, 3)` matches the banner or the badge.

        Compares the luma under the overlay's near-opaque pixels (white letters on a dark box) with
        what the overlay alone would show. Lossy coding blurs edges but keeps the pattern, so a
        correlation over 0.6 means the label is there.
        """
        array = frame.cpu().numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
        if array.shape[:2] != (self.height, self.width):
            raise LabelError(f"Frame is {array.shape[1]}x{array.shape[0]}, label is for {self.width}x{self.height}.")
        luma = array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        scores = {}
        for name, patch in (("banner", self._banner), ("badge", self._badge)):
            b = patch.box
            seen = luma[b.top : b.bottom, b.left : b.right][patch.check_mask]
            expected = patch.expected_luma[patch.check_mask]
            scores[name] = _correlation(seen, expected)
        best = max(scores, key=scores.get)
        return {"present": scores[best] >= PRESENCE_THRESHOLD, "layout": best, "score": round(scores[best], 3)}



def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def label_for(width: int, height: int, fps: int = 25, device=None) -> ExplicitLabel:
    """A cached label per geometry (the verifier checks many frames of few sizes)."""
    return _cached_label(int(width), int(height), int(fps), str(device or "cpu"))


@lru_cache(maxsize=16)
def _cached_label(width: int, height: int, fps: int, device: str) -> ExplicitLabel:
    return ExplicitLabel(width, height, fps, device)
