"""Generated test media: deterministic, and speech-like enough to drive the mouth."""
import numpy as np
import pytest

from rendering.media import audio_features
from rendering.synthetic import speech_like_audio, synthetic_portrait


def test_portrait_is_deterministic_per_seed():
    assert np.array_equal(synthetic_portrait(128, seed=3), synthetic_portrait(128, seed=3))
    assert not np.array_equal(synthetic_portrait(128, seed=3), synthetic_portrait(128, seed=4))
    assert synthetic_portrait(200).shape == (200, 200, 3)


def test_speech_like_audio_has_syllables_and_pauses():
    audio = speech_like_audio(10.0, seed=0)
    assert audio.dtype == np.float32 and audio.shape == (160_000,)
    assert np.abs(audio).max() <= 1.0
    assert np.array_equal(audio, speech_like_audio(10.0, seed=0))
    loudness = audio_features(audio, fps=25).loudness
    # Pauses: stretches where the mouth should rest.
    quiet = loudness < 0.3
    assert 0.05 < quiet.mean() < 0.5
    # Syllables: the level rises and falls a few times a second while speaking.
    peaks = np.sum((loudness[1:-1] > loudness[:-2]) & (loudness[1:-1] >= loudness[2:]) & (loudness[1:-1] > 0.5))
    assert 2.0 <= peaks / 10.0 <= 8.0


def test_speech_like_audio_varies_in_spectrum():
    features = audio_features(speech_like_audio(6.0, seed=1), fps=25)
    voiced = features.loudness > 0.5
    assert np.ptp(features.centroid[voiced]) > 0.05  # different vowels and consonants


@pytest.mark.parametrize("bad", [0, -1.0])
def test_bad_lengths_are_refused(bad):
    with pytest.raises(ValueError):
        speech_like_audio(bad)
    with pytest.raises(ValueError):
        synthetic_portrait(32)
