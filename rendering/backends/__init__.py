"""Renderer backends. Pick one by dotted path (settings.RENDER_BACKEND) with `load_backend`."""
from __future__ import annotations

from importlib import import_module

from .base import AUDIO_SAMPLE_RATE, PreparedClone, RendererBackend, resolve_device

__all__ = ["AUDIO_SAMPLE_RATE", "PreparedClone", "RendererBackend", "load_backend", "resolve_device"]


def load_backend(dotted_path: str, **options) -> RendererBackend:
    """Instantiate the backend class at `dotted_path` ("package.module.Class") with `options`.

    Raises ValueError (saying what to fix) when the path does not name a class that follows the
    `RendererBackend` protocol.
    """
    module_path, _, class_name = (dotted_path or "").rpartition(".")
    if not module_path:
        raise ValueError(
            f"RENDER_BACKEND {dotted_path!r} is not a dotted path; use e.g. "
            "'rendering.backends.portrait.PortraitAnimator'."
        )
    try:
        backend_class = getattr(import_module(module_path), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"Cannot import renderer backend {dotted_path!r}: {exc}") from exc
    backend = backend_class(**options)
    if not isinstance(backend, RendererBackend):
        raise ValueError(
            f"{dotted_path!r} does not follow the renderer protocol (name, version, prepare, render); "
            "see docs/renderer.md."
        )
    return backend
