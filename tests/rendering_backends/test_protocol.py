import pytest
import torch
from django.conf import settings

from rendering.backends import RendererBackend, load_backend, resolve_device
from rendering.backends.base import PreparedClone
from rendering.backends.portrait import PortraitAnimator

from .conftest import FPS, silence


def test_settings_backend_loads_and_follows_the_protocol():
    backend = load_backend(settings.RENDER_BACKEND, weights_dir=settings.RENDER_WEIGHTS_DIR or None)
    assert isinstance(backend, PortraitAnimator)
    assert isinstance(backend, RendererBackend)
    assert backend.name and backend.version


def test_prepare_and_render_follow_the_protocol(clone_portrait):
    backend = load_backend("rendering.backends.portrait.PortraitAnimator")
    prepared = backend.prepare(clone_portrait.image, clone_portrait.geometry, device="auto")
    assert isinstance(prepared, PreparedClone)
    assert prepared.backend == backend.name and prepared.version == backend.version
    assert prepared.device == resolve_device("auto")
    frames = backend.render(prepared, silence(0.4), first_frame_index=0, n_frames=10, fps=FPS, width=96, height=64)
    assert isinstance(frames, torch.Tensor)
    assert frames.shape == (10, 64, 96, 3) and frames.dtype == torch.uint8
    assert frames.device == prepared.device


@pytest.mark.parametrize(
    "path, message",
    [
        ("PortraitAnimator", "not a dotted path"),
        ("rendering.backends.nowhere.Renderer", "Cannot import"),
        ("rendering.backends.portrait.Missing", "Cannot import"),
        ("collections.OrderedDict", "does not follow the renderer protocol"),
    ],
)
def test_load_backend_rejects_what_is_not_a_backend(path, message):
    with pytest.raises(ValueError, match=message):
        load_backend(path)


def test_device_auto_means_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_weights_dir_is_accepted_by_the_built_in_backend(tmp_path):
    # Switching RENDER_BACKEND must not need code changes: every backend takes weights_dir.
    backend = load_backend("rendering.backends.portrait.PortraitAnimator", weights_dir=str(tmp_path))
    assert isinstance(backend, RendererBackend)
