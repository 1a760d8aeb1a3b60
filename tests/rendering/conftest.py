"""Fixtures for the rendering tests: keys in tmp, a licensed synthetic talent, tiny streams, real workers.

Streams here are 320x180 (the watermark's smallest frame) at 10 fps in 1-s segments, so a segment
is 10 frames and the suite stays fast.
"""
from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from PIL import Image

from consent.models import LikenessAsset
from rendering import services, worker
from rendering.models import Clone
from rendering.synthetic import speech_like_wav, synthetic_portrait
from tests.factories import ActiveLicenseFactory, ConsentGrantFactory, LikenessAssetFactory, TalentFactory

TINY = dict(width=320, height=180, fps=10, segment_seconds=1.0)
SCOPE = dict(platform="douyin", product_category="cosmetics", territory="CN", language="zh-CN")


def portrait_png(seed: int = 3) -> bytes:
    out = io.BytesIO()
    Image.fromarray(synthetic_portrait(size=256, seed=seed)).save(out, "PNG")
    return out.getvalue()


def speech_wav(seconds: float, seed: int = 1) -> bytes:
    return speech_like_wav(seconds, seed=seed)


def audio_upload(seconds: float, seed: int = 1) -> SimpleUploadedFile:
    return SimpleUploadedFile("script.wav", speech_wav(seconds, seed), content_type="audio/wav")


@pytest.fixture
def licensed(db):
    """An active license of a synthetic talent's face and voice, its portrait, and a brand member."""
    talent = TalentFactory()
    grant = ConsentGrantFactory(talent=talent)
    license = ActiveLicenseFactory(grant=grant)
    portrait = LikenessAssetFactory(talent=talent, kind=LikenessAsset.Kind.PORTRAIT, data=portrait_png())
    return license, portrait, license.requested_by


@pytest.fixture
def ready_clone(licensed):
    license, portrait, brand_user = licensed
    clone = services.request_clone(license=license, actor=brand_user, source_asset=portrait)
    clone = services.build_clone(clone_id=clone.pk)
    assert clone.status == Clone.Status.READY, clone.reasons
    return clone


@pytest.fixture
def worker_db(transactional_db):
    """A database a worker thread shares with the test: transactional, so the worker sees what the
    test committed. On SQLite the test database is a file (config/settings.py), so the threads'
    connections wait for each other's locks instead of failing."""
    yield


@pytest.fixture
def broker(worker_db, settings, tmp_path):
    """The configured broker (Redis in CI's second run), else a SQLite broker file of this test's own."""
    if settings.CELERY_EMBEDDED_BROKER:
        settings.CELERY_BROKER_URL = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    worker.reconnect()
    yield settings.CELERY_BROKER_URL
    worker.reconnect()


@pytest.fixture
def celery_worker(broker):
    """A real worker thread consuming the gpu and default queues for the duration of the test."""
    with worker.embedded_worker(loglevel="ERROR", shutdown_timeout=60) as running:
        yield running


@pytest.fixture
def worker_env(broker, settings, tmp_path):
    """Environment for a worker in a child process: this test's database, broker, media and keys."""
    db = connections["default"].settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        "DATABASE_URL": url, "CELERY_BROKER_URL": broker, "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LEDGER_SIGNING_KEY_PATH": str(settings.LEDGER_SIGNING_KEY_PATH),
        "PROVENANCE_DIR": str(settings.PROVENANCE_DIR), "CONSENTFRAME_DATA_DIR": str(tmp_path / "worker-data"),
        "CELERY_SKIP_CHECKS": "1",
    }
