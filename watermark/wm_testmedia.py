"""Synthetic frames for watermark tests and benchmarks: drawn in code, no real person's likeness.

Kinds: "face" (a talking-head-like oval with skin shading, eyes and a moving mouth on a soft
background), "texture" (a panning scene of bricks, foliage-like noise and edges), "flat" (a nearly
uniform skin-toned wall with a faint gradient and sensor noise: the hardest case to hide a mark in).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINDS = ("face", "texture", "flat")


def _grid(h: int, w: int):
    y = torch.linspace(-1, 1, h)[:, None].expand(h, w)
    x = torch.linspace(-1, 1, w)[None, :].expand(h, w) * (w / h)
    return y, x


def _smooth_noise(h: int, w: int, cells: int, gen: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(1, 1, cells, max(2, cells * w // h), generator=gen)
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0, 0]


def frames(kind: str, n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(n, height, width, 3) uint8 RGB frames of a 25 fps synthetic clip."""
    if kind not in KINDS:
        raise ValueError(f"unknown content kind {kind!r}; use one of {KINDS}")
    gen = torch.Generator().manual_seed(seed)
    y, x = _grid(height, width)
    out = torch.empty(n, height, width, 3, dtype=torch.uint8)
    base_noise = _smooth_noise(height, width, 24, gen)
    fine_noise = _smooth_noise(height, width, 160, gen)
    for t in range(n):
        phase = t / 25.0
        if kind == "face":
            bg = torch.stack([0.35 + 0.15 * base_noise, 0.42 + 0.1 * y, 0.55 - 0.1 * y])
            cx, cy = 0.05 * math.sin(phase * 1.3), 0.02 * math.sin(phase * 2.1)
            r2 = ((x - cx) / 0.55) ** 2 + ((y - cy) / 0.75) ** 2
            face = (r2 < 1).float()
            shade = (1 - 0.35 * r2.clamp(max=1)) * (1 + 0.04 * (fine_noise - 0.5))
            skin = torch.stack([0.87 * shade, 0.66 * shade, 0.55 * shade])
            img = bg * (1 - face) + skin * face
            for ex in (-0.2, 0.2):
                eye = (((x - cx - ex) / 0.09) ** 2 + ((y - cy + 0.2) / 0.045) ** 2) < 1
                img[:, eye] = torch.tensor([0.15, 0.1, 0.08])[:, None]
            mouth_open = 0.02 + 0.04 * abs(math.sin(phase * 9.0))
            mouth = (((x - cx) / 0.18) ** 2 + ((y - cy - 0.35) / mouth_open) ** 2) < 1
            img[:, mouth] = torch.tensor([0.55, 0.2, 0.2])[:, None]
            hair = (r2 > 0.75) & (y < cy - 0.2) & (r2 < 1.3)
            img[:, hair] = (0.12 + 0.1 * fine_noise[hair])[None].repeat(3, 1) * torch.tensor([1.0, 0.8, 0.6])[:, None]
        elif kind == "texture":
            xs = x + 0.04 * phase
            bricks = ((torch.sin(xs * 40 + 3.1 * (torch.floor(y * 12) % 2)) > 0.9) | (torch.sin(y * 37.7) > 0.92)).float()
            leaves = _shift(fine_noise, int(phase * 20))
            g = 0.5 * base_noise + 0.5 * leaves
            img = torch.stack([0.55 * g + 0.35 * bricks, 0.5 * g + 0.25 * bricks + 0.1 * (x > 0.3).float(), 0.35 * g + 0.2 * bricks])
            img = img + 0.06 * torch.sin(xs * 7 + y * 5)
        else:
            level = 0.02 * math.sin(phase)
            img = torch.stack([0.86 + 0.05 * y + level, 0.68 + 0.04 * y + level, 0.58 + 0.03 * y + level])
            img = img + 0.006 * torch.randn(3, height, width, generator=gen)
        out[t] = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    return out


def _shift(img: torch.Tensor, dx: int) -> torch.Tensor:
    return torch.roll(img, shifts=dx, dims=1)
