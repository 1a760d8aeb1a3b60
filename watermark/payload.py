"""What a watermark says: stream, segment and frame position, and the keyed word that carries it.

Layout v1 (see docs/watermark.md for the false-positive arithmetic):

* segment word, 96 information bits, shared by every frame of a segment (so a clip can add them up):
  ``version (4) | stream_id (32) | segment (20) | tag (40)``, most significant bit first, where
  ``tag`` is the first 40 bits of HMAC-SHA256(key, b"seg" + version|stream|segment). It is coded with
  the rate-1/3, K=7 convolutional code of :mod:`watermark.wm_fec` into 306 coded bits.
* frame field: the frame index (8 bits) is sent as one of 256 keyed pseudo-random ±1 codewords and
  decoded by maximum correlation; it is only reported when the segment word checks.

A word is accepted only if its version is known, its tag matches and it is not degenerate (all zeros
or all ones), so an unmarked frame decoded to an arbitrary word passes with probability 2**-40.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import numpy as np

from . import wm_fec

LAYOUT_VERSION = 1
VERSION_BITS = 4
STREAM_BITS = 32
SEGMENT_BITS = 20
FRAME_BITS = 8
TAG_BITS = 40
WORD_BITS = VERSION_BITS + STREAM_BITS + SEGMENT_BITS + TAG_BITS  # 96
CODED_BITS = wm_fec.coded_length(WORD_BITS)  # 306
FRAME_VALUES = 1 << FRAME_BITS

_HEX_RE = re.compile(r"^[0-9a-f]{15}$")


@dataclass(frozen=True)
class Payload:
    """Identifies one frame: the stream, the segment within it and the frame within the segment."""

    stream_id: int
    segment: int
    frame: int

    def __post_init__(self):
        for name, value, bits in (
            ("stream_id", self.stream_id, STREAM_BITS),
            ("segment", self.segment, SEGMENT_BITS),
            ("frame", self.frame, FRAME_BITS),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"Payload.{name} must be an int, got {type(value).__name__}")
            if not 0 <= int(value) < (1 << bits):
                raise ValueError(
                    f"Payload.{name}={value} is out of range: use 0 <= {name} < 2**{bits}"
                )

    def hex(self) -> str:
        """Stable 15-hex-digit text: 8 digits stream, 5 digits segment, 2 digits frame."""
        return f"{int(self.stream_id):08x}{int(self.segment):05x}{int(self.frame):02x}"


def parse_payload(text: str) -> Payload:
    """Inverse of :meth:`Payload.hex`."""
    if not isinstance(text, str) or not _HEX_RE.match(text.strip().lower()):
        raise ValueError(
            f"not a watermark payload: {text!r}; expected 15 hex digits as written by Payload.hex()"
        )
    text = text.strip().lower()
    return Payload(stream_id=int(text[:8], 16), segment=int(text[8:13], 16), frame=int(text[13:], 16))


def _to_bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _from_bits(bits) -> int:
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def _tag(key: bytes, version: int, stream_id: int, segment: int) -> int:
    msg = b"seg" + version.to_bytes(1, "big") + stream_id.to_bytes(4, "big") + segment.to_bytes(3, "big")
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - TAG_BITS)


def segment_word(key: bytes, stream_id: int, segment: int) -> np.ndarray:
    """The 96 information bits for (stream_id, segment), as uint8."""
    bits = (
        _to_bits(LAYOUT_VERSION, VERSION_BITS)
        + _to_bits(stream_id, STREAM_BITS)
        + _to_bits(segment, SEGMENT_BITS)
        + _to_bits(_tag(key, LAYOUT_VERSION, stream_id, segment), TAG_BITS)
    )
    return np.array(bits, dtype=np.uint8)


def segment_codeword(key: bytes, stream_id: int, segment: int) -> np.ndarray:
    """The 306 coded bits (uint8) that every frame of the segment carries."""
    return wm_fec.encode(segment_word(key, stream_id, segment))


def check_word(key: bytes, bits: np.ndarray) -> tuple[int, int] | None:
    """(stream_id, segment) if the decoded 96 bits form a valid word under `key`, else None."""
    bits = np.asarray(bits, dtype=np.uint8)
    if bits.shape != (WORD_BITS,) or not bits.any() or bits.all():
        return None
    version = _from_bits(bits[:VERSION_BITS])
    if version != LAYOUT_VERSION:
        return None
    stream_id = _from_bits(bits[VERSION_BITS:VERSION_BITS + STREAM_BITS])
    segment = _from_bits(bits[VERSION_BITS + STREAM_BITS:VERSION_BITS + STREAM_BITS + SEGMENT_BITS])
    tag = _from_bits(bits[WORD_BITS - TAG_BITS:])
    if not hmac.compare_digest(
        tag.to_bytes(5, "big"), _tag(key, version, stream_id, segment).to_bytes(5, "big")
    ):
        return None
    return stream_id, segment


def decode_word(key: bytes, soft: np.ndarray) -> list[tuple[int, int] | None]:
    """Soft coded values (..., 306), positive meaning 1 -> a checked (stream_id, segment) or None each."""
    soft = np.asarray(soft, dtype=np.float64)
    flat = soft.reshape(-1, CODED_BITS)
    bits = wm_fec.viterbi_decode(flat, WORD_BITS)
    return [check_word(key, row) for row in bits]


def frame_codebook(key: bytes, length: int) -> np.ndarray:
    """(256, length) float32 ±1 keyed codewords, one per frame index."""
    seed = int.from_bytes(hmac.new(key, b"frame-codebook", hashlib.sha256).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, size=(FRAME_VALUES, length)) * 2 - 1).astype(np.float32)
