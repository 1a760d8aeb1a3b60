"""Fixtures for the portal tests: two tenants of every kind, keys in tmp, API clients, a fresh cache."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from consent.models import BrandMembership, LikenessAsset
from tests.portal.browser import chromium  # noqa: F401 (fixture for the browser tests)
from tests.rendering.conftest import broker, celery_worker, worker_db  # noqa: F401 (a real Celery worker, shared DB)
from rendering.models import Clone, Segment, Stream
from tests.factories import (
    ActiveLicenseFactory, BrandFactory, ConsentGrantFactory, LegalReviewerFactory, LicenseFactory,
    LikenessAssetFactory, PlatformAdminFactory, TalentFactory, UserFactory,
)


@pytest.fixture(autouse=True)
def _isolated():
    # Throttle counters never leak between tests (keys are in tmp for every test: tests/conftest.py).
    cache.clear()
    yield
    cache.clear()


class Tenant:
    """One talent with a consent, one brand with a member, and a license between them."""

    def __init__(self, n: int):
        self.talent = TalentFactory(user=UserFactory(username=f"talent-{n}"), display_name=f"Host {n}")
        self.talent_user = self.talent.user
        self.grant = ConsentGrantFactory(talent=self.talent)
        self.brand = BrandFactory(name=f"Brand {n}", slug=f"brand-{n}")
        self.brand_user = UserFactory(username=f"brand-{n}")
        BrandMembership.objects.create(brand=self.brand, user=self.brand_user, role=BrandMembership.Role.OWNER)
        self.requested = LicenseFactory(grant=self.grant, brand=self.brand, requested_by=self.brand_user)
        self.active = ActiveLicenseFactory(grant=self.grant, brand=self.brand, requested_by=self.brand_user)
        self.portrait = LikenessAssetFactory(talent=self.talent, kind=LikenessAsset.Kind.PORTRAIT)

    def with_media_rows(self) -> "Tenant":
        """A ready clone, a running stream and one published segment under the active license (rows only)."""
        self.clone = Clone.objects.create(license=self.active, talent=self.talent, source_asset=self.portrait,
                                          requested_by=self.brand_user, status=Clone.Status.READY,
                                          sha256=f"{self.talent.pk:064x}")
        self.stream = Stream.objects.create(
            license=self.active, clone=self.clone, created_by=self.brand_user, audio="stream-audio/x.wav",
            audio_sha256="0" * 64, audio_seconds=4.0, platform="douyin", product_category="cosmetics",
            territory="CN", language="zh-CN", width=320, height=180, fps=10, segment_seconds=1.0,
            status=Stream.Status.RUNNING,
        )
        self.segment = Segment.objects.create(
            stream=self.stream, sequence=0, start_seconds=0.0, end_seconds=1.0, frame_count=10,
            file="segments/x.mp4", sha256=f"{self.stream.pk:064x}", manifest_id="urn:c2pa:test",
            watermark_payload="0" * 15,
        )
        return self


@pytest.fixture
def tenant(db):
    return Tenant(1).with_media_rows()


@pytest.fixture
def other(db):
    return Tenant(2).with_media_rows()


@pytest.fixture
def legal(db):
    return LegalReviewerFactory(username="legal-1")


@pytest.fixture
def admin_user(db):
    return PlatformAdminFactory(username="admin-1")


@pytest.fixture
def api():
    """An API client; `api.as_user(user)` authenticates with a real token, as integrations do."""
    from rest_framework.authtoken.models import Token

    client = APIClient()

    def as_user(user):
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    client.as_user = as_user
    return client


@pytest.fixture
def rendered_segment(db, monkeypatch, django_capture_on_commit_callbacks):
    """One real segment through the pipeline (labelled, watermarked, signed) of a fresh tenant's stream."""
    from rendering import pipeline, services
    from tests.rendering.conftest import SCOPE, TINY, audio_upload, portrait_png

    monkeypatch.setattr(services, "_enqueue", lambda name, *args: None)  # the test runs each step itself
    owner = Tenant(3)
    portrait = LikenessAssetFactory(talent=owner.talent, kind=LikenessAsset.Kind.PORTRAIT, data=portrait_png())
    clone = services.request_clone(license=owner.active, actor=owner.brand_user, source_asset=portrait)
    clone = services.build_clone(clone_id=clone.pk)
    stream = services.create_stream(clone=clone, actor=owner.brand_user, audio_file=audio_upload(1.0), **SCOPE,
                                    **TINY)
    with django_capture_on_commit_callbacks(execute=True):
        services.start_stream(stream_id=stream.pk)
        assert pipeline.run_segment(stream.pk, 0) == "published"
    segment = stream.segments.get()
    with segment.file.open("rb") as fh:
        owner.segment_bytes = fh.read()
    owner.stream, owner.segment = stream, segment
    return owner
