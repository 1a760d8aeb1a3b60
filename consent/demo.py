"""A small demo world, made through the services (so the ledger records it) and reused on a second run.

`seed_demo_world()` is used by `manage.py demo` and, later, by the rendering demo. No real person:
the portrait is drawn and the voice synthesised by `rendering.synthetic`.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from . import selectors, services
from .models import Brand, ConsentGrant, License, LikenessAsset, Modality, PlatformRole, Talent, Use
from .policy import UseRequest

DEMO_PASSWORD = "consentframe-demo"  # development only: lets you sign in to the portal as each party
DEMO_BRAND_SLUG = "aurora-cosmetics"
DEMO_SCOPE = {"platforms": ["douyin", "taobao"], "categories": ["cosmetics", "skincare"], "territories": ["CN"],
              "languages": ["zh-CN"]}


@dataclass(frozen=True)
class DemoWorld:
    talent: Talent
    brand: Brand
    brand_user: object
    legal: object
    admin: object
    grant: ConsentGrant
    license: License
    portrait: LikenessAsset
    voice: LikenessAsset


def _user(username: str, **extra):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        maker = User.objects.create_superuser if extra.pop("superuser", False) else User.objects.create_user
        user = maker(username=username, email=f"{username}@demo.consentframe.test", password=DEMO_PASSWORD, **extra)
    return user


def _portrait_file() -> SimpleUploadedFile:
    from rendering.synthetic import synthetic_portrait

    out = io.BytesIO()
    Image.fromarray(synthetic_portrait(size=384, seed=3)).save(out, "PNG")
    return SimpleUploadedFile("portrait.png", out.getvalue(), content_type="image/png")


def _voice_file() -> SimpleUploadedFile:
    from rendering.synthetic import speech_like_wav

    return SimpleUploadedFile("voice.wav", speech_like_wav(6.0, seed=3), content_type="audio/wav")


def _asset(talent, kind, make_file):
    existing = LikenessAsset.objects.filter(talent=talent, kind=kind, deleted_at__isnull=True).first()
    return existing or services.upload_likeness_asset(talent=talent, kind=kind, uploaded_file=make_file(),
                                                      actor=talent.user)


@transaction.atomic
def seed_demo_world() -> DemoWorld:
    """Create (or find again) a talent, a brand, a legal reviewer, a consent and an active license."""
    now = timezone.now()
    admin = _user("demo-admin", superuser=True)
    legal = _user("demo-legal")
    services.assign_platform_role(user=legal, role=PlatformRole.Role.LEGAL_REVIEWER, actor=admin)
    talent_user = _user("demo-talent")
    talent = Talent.objects.filter(user=talent_user).first() or services.create_talent(
        user=talent_user, display_name="Lin Xiao (demo)", legal_name="Lin Xiao Synthetic", actor=talent_user)
    if talent.verification != Talent.Verification.VERIFIED:
        talent = services.set_talent_verification(talent=talent, verification=Talent.Verification.VERIFIED,
                                                  actor=legal)
    brand_user = _user("demo-brand")
    brand = Brand.objects.filter(slug=DEMO_BRAND_SLUG).first() or services.create_brand(
        name="Aurora Cosmetics (demo)", slug=DEMO_BRAND_SLUG, owner=brand_user, actor=brand_user)

    grant = selectors.active_grants_for_talent(talent, now).filter(valid_from__lte=now).first()
    if grant is None:
        grant = services.grant_consent(
            talent=talent, actor=talent.user, document_title="Consent to a digital clone of my face and voice",
            document_version="2026-11",
            document_text=("I, the undersigned, consent separately to the collection of my portrait and voice "
                           "and to their use for a digital clone that hosts labelled livestreams for licensed "
                           "brands, within the scope below. I may withdraw this consent at any time; my "
                           "reference media and clones are then deleted."),
            modalities=[Modality.FACE, Modality.VOICE], permitted_uses=Use.values,
            platforms=DEMO_SCOPE["platforms"], allowed_categories=DEMO_SCOPE["categories"],
            excluded_categories=["alcohol", "tobacco", "gambling"], territories=DEMO_SCOPE["territories"],
            languages=DEMO_SCOPE["languages"], prohibited_topics=["guaranteed cure", "political endorsement"],
            valid_from=now - dt.timedelta(minutes=1), valid_until=now + dt.timedelta(days=365),
            evidence_phrase="AURORA-7-OTTER", request_meta={"ip": "127.0.0.1", "user_agent": "manage.py demo"})
    portrait = _asset(talent, LikenessAsset.Kind.PORTRAIT, _portrait_file)
    voice = _asset(talent, LikenessAsset.Kind.VOICE, _voice_file)

    license = License.objects.filter(brand=brand, grant=grant, status=License.Status.ACTIVE, ends_at__gt=now).first()
    if license is None:
        license = services.request_license(
            brand=brand, grant=grant, actor=brand_user, modalities=[Modality.FACE, Modality.VOICE],
            permitted_uses=[Use.CLONE_CREATION, Use.LIVE_RENDERING, Use.RECORDED_VIDEO], platforms=["douyin"],
            product_categories=["cosmetics"], territories=["CN"], languages=["zh-CN"], starts_at=now,
            ends_at=min(now + dt.timedelta(days=90), grant.valid_until), max_concurrent_streams=2,
            max_hours_per_day=Decimal("8"), max_hours_total=Decimal("200"), fee_amount=Decimal("20000"),
            revenue_share_percent=Decimal("5"))
        license = services.approve_license(license=license, actor=talent.user)
        license = services.countersign_license(license=license, actor=legal)
    return DemoWorld(talent=talent, brand=brand, brand_user=brand_user, legal=legal, admin=admin, grant=grant,
                     license=license, portrait=portrait, voice=voice)


def demo_requests() -> list[tuple[str, UseRequest]]:
    """One request the demo license allows and one it forbids (for several reasons at once)."""
    allowed = UseRequest(use=Use.LIVE_RENDERING, modalities=frozenset({Modality.FACE, Modality.VOICE}),
                         platform="douyin", product_category="cosmetics", territory="CN", language="zh-CN",
                         script_text="欢迎来到直播间! Today: our new hydrating serum.", seconds=2.0)
    forbidden = UseRequest(use=Use.LIVE_RENDERING, modalities=frozenset({Modality.FACE, Modality.VOICE}),
                           platform="kuaishou", product_category="alcohol", territory="CN", language="zh-CN",
                           script_text="This baijiu is a GUARANTEED cure for stress.", seconds=2.0)
    return [("allowed", allowed), ("forbidden", forbidden)]
