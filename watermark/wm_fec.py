"""Rate-1/3 convolutional code (constraint length 7) with a batched soft-decision Viterbi decoder.

Generators 133, 171, 165 (octal), the code used by LTE/3GPP for control channels: free distance 15,
so a terminated block corrects many scattered errors and, decoded softly, gains ~5 dB over repetition.
Soft inputs follow one convention everywhere: a positive value means "bit 1 more likely".
"""
from __future__ import annotations

import numpy as np

CONSTRAINT = 7
MEMORY = CONSTRAINT - 1
GENERATORS = (0o133, 0o171, 0o165)
RATE_INV = len(GENERATORS)
_STATES = 1 << MEMORY


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    out = np.zeros_like(x)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


# Register = (input << MEMORY) | state; next state = register >> 1. Outputs per (state, input).
_REG = (np.arange(2)[None, :] << MEMORY) | np.arange(_STATES)[:, None]  # (64, 2)
_OUT = np.stack([_parity(_REG & g) for g in GENERATORS], axis=-1).astype(np.int8)  # (64, 2, 3)
# Predecessors of each next state: s = ((ns & 31) << 1) | b, driven by input u = ns >> 5.
_NS = np.arange(_STATES)
_PRED = (((_NS & (_STATES // 2 - 1)) << 1)[:, None] | np.arange(2)[None, :])  # (64, 2)
_PRED_INPUT = (_NS >> (MEMORY - 1))  # (64,)
_PRED_SIGNS = (2 * _OUT[_PRED, _PRED_INPUT[:, None]] - 1).astype(np.float64)  # (64, 2, 3)


def coded_length(info_bits: int) -> int:
    """Coded bits for `info_bits` information bits, including the zero tail that terminates the code."""
    return (info_bits + MEMORY) * RATE_INV


def encode(bits: np.ndarray) -> np.ndarray:
    """Encode 0/1 bits (last axis); returns the terminated codeword as uint8, shape (..., coded_length)."""
    bits = np.asarray(bits, dtype=np.int64)
    lead = bits.shape[:-1]
    flat = bits.reshape(-1, bits.shape[-1])
    flat = np.concatenate([flat, np.zeros((flat.shape[0], MEMORY), dtype=np.int64)], axis=1)
    state = np.zeros(flat.shape[0], dtype=np.int64)
    out = np.empty((flat.shape[0], flat.shape[1], RATE_INV), dtype=np.uint8)
    for t in range(flat.shape[1]):
        u = flat[:, t]
        out[:, t] = _OUT[state, u]
        state = ((u << MEMORY) | state) >> 1
    return out.reshape(*lead, -1)


def viterbi_decode(soft: np.ndarray, info_bits: int) -> np.ndarray:
    """Maximum-likelihood information bits for soft coded values, batched over leading axes.

    `soft` has shape (..., coded_length(info_bits)); positive means a coded 1. Returns uint8 bits
    of shape (..., info_bits). The path is forced to end in state 0 (the code is terminated).
    """
    soft = np.asarray(soft, dtype=np.float64)
    steps = info_bits + MEMORY
    if soft.shape[-1] != steps * RATE_INV:
        raise ValueError(f"expected {steps * RATE_INV} soft values, got {soft.shape[-1]}")
    lead = soft.shape[:-1]
    y = soft.reshape(-1, steps, RATE_INV)
    batch = y.shape[0]
    metric = np.full((batch, _STATES), -np.inf)
    metric[:, 0] = 0.0
    choices = np.empty((steps, batch, _STATES), dtype=np.uint8)
    for t in range(steps):
        branch = np.einsum("bk,spk->bsp", y[:, t], _PRED_SIGNS)  # (batch, 64, 2)
        cand = metric[:, _PRED] + branch
        pick = np.argmax(cand, axis=-1)
        choices[t] = pick
        metric = np.take_along_axis(cand, pick[..., None], axis=-1)[..., 0]
    state = np.zeros(batch, dtype=np.int64)
    decoded = np.empty((batch, steps), dtype=np.uint8)
    rows = np.arange(batch)
    for t in range(steps - 1, -1, -1):
        decoded[:, t] = _PRED_INPUT[state]
        state = _PRED[state, choices[t, rows, state]]
    return decoded[:, :info_bits].reshape(*lead, info_bits)
