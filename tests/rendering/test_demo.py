"""The rendering part of `make demo`, shortened: clone, stream through a real worker, verification."""
import io

import pytest

from consent.demo import seed_demo_world
from rendering.demo import run_render_demo
from rendering.models import Stream
from tests.rendering.conftest import TINY

pytestmark = pytest.mark.slow


def test_render_demo_builds_a_clone_streams_through_a_worker_and_verifies_every_file(broker):
    out = io.StringIO()

    stream = run_render_demo(seed_demo_world(), out, seconds=2.0, size=TINY)

    text = out.getvalue()
    assert stream.status == Stream.Status.COMPLETED and stream.recording
    assert "kuaishou stream refused, nothing stored (use_denied)" in text
    assert "segment 0: OK · C2PA trusted · AIGC present · visible label present" in text
    assert "segment 1: OK" in text and "recording: OK · C2PA trusted · 2 ingredients" in text
