"""Fixtures for the renderer and media tests: a generated face (no real person) and generated sound."""
import numpy as np
import pytest

from rendering.backends.portrait import PortraitAnimator
from rendering.faces import normalise_portrait
from rendering.synthetic import synthetic_portrait

FPS = 25
RATE = 16_000


@pytest.fixture(scope="session")
def clone_portrait():
    """A normalised synthetic portrait (256 px) and its measured geometry."""
    return normalise_portrait(synthetic_portrait(256, seed=1), size=256)


@pytest.fixture(scope="session")
def animator():
    return PortraitAnimator()


@pytest.fixture(scope="session")
def prepared(animator, clone_portrait):
    return animator.prepare(clone_portrait.image, clone_portrait.geometry, device="cpu")


def tone(seconds, *, freq=220.0, amplitude=0.3, rate=RATE, harmonics=8):
    """A voiced, vowel-like tone: a fundamental with decaying harmonics."""
    t = np.arange(int(round(seconds * rate))) / rate
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


def silence(seconds, rate=RATE):
    return np.zeros(int(round(seconds * rate)), np.float32)
