import numpy as np
import pytest

from watermark import payload as pl
from watermark import wm_fec

KEY = b"test-key"


def test_hex_round_trip_and_bounds():
    p = pl.Payload(stream_id=2**32 - 1, segment=2**20 - 1, frame=255)
    assert p.hex() == "ffffffff" + "fffff" + "ff"
    assert pl.parse_payload(p.hex()) == p
    assert pl.parse_payload(pl.Payload(7, 3, 1).hex()) == pl.Payload(7, 3, 1)


@pytest.mark.parametrize("kwargs", [
    {"stream_id": 2**32, "segment": 0, "frame": 0},
    {"stream_id": 0, "segment": 2**20, "frame": 0},
    {"stream_id": 0, "segment": 0, "frame": 256},
    {"stream_id": -1, "segment": 0, "frame": 0},
    {"stream_id": 1.5, "segment": 0, "frame": 0},
])
def test_out_of_range_fields_are_refused(kwargs):
    with pytest.raises(ValueError, match="Payload"):
        pl.Payload(**kwargs)


@pytest.mark.parametrize("text", ["", "xyz", "0" * 14, "g" * 15, None])
def test_parse_refuses_malformed_text(text):
    with pytest.raises(ValueError, match="15 hex digits"):
        pl.parse_payload(text)


def test_viterbi_corrects_noisy_codewords():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2, size=(50, pl.WORD_BITS))
    signs = wm_fec.encode(words).astype(float) * 2 - 1
    noisy = signs + rng.normal(0, 0.8, size=signs.shape)  # ~10 % raw bit errors
    assert ((noisy > 0) != (signs > 0)).mean() > 0.05
    assert np.array_equal(wm_fec.viterbi_decode(noisy, pl.WORD_BITS), words)


def test_segment_word_checks_only_under_its_key():
    word = pl.segment_word(KEY, 123, 45)
    assert pl.check_word(KEY, word) == (123, 45)
    assert pl.check_word(b"other-key", word) is None
    flipped = word.copy()
    flipped[10] ^= 1
    assert pl.check_word(KEY, flipped) is None


def test_degenerate_words_are_rejected():
    assert pl.check_word(KEY, np.zeros(pl.WORD_BITS, np.uint8)) is None
    assert pl.check_word(KEY, np.ones(pl.WORD_BITS, np.uint8)) is None
    # A silent channel (all-zero soft values) decodes to nothing.
    assert pl.decode_word(KEY, np.zeros((1, pl.CODED_BITS))) == [None]


def test_random_soft_values_never_check():
    rng = np.random.default_rng(2)
    assert not any(pl.decode_word(KEY, rng.normal(size=(500, pl.CODED_BITS))))
