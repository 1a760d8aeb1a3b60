"""factory-boy factories for users and every consent model. Shared by all test packages.

Factories write rows directly (no services, so no audit events): use them to set up facts, and call
`consent.services` when the behaviour under test is the service itself. Media is synthetic.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import math
import struct
import wave
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageDraw

from consent.models import (
    Brand, BrandMembership, ConsentGrant, License, LikenessAsset, PlatformRole, Talent,
)

PASSWORD = "test-password-123"


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    # Hashed once: the default hasher is deliberately slow, and every factory user shares the password.
    # Django's default hasher, named here so that a test's PASSWORD_HASHERS cannot change the cached value.
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


def portrait_png(size: int = 96, seed: int = 0) -> bytes:
    """A small drawn face (not a real person) as PNG bytes."""
    image = Image.new("RGB", (size, size), (40 + seed * 13 % 200, 90, 140))
    draw = ImageDraw.Draw(image)
    draw.ellipse((size * 0.25, size * 0.15, size * 0.75, size * 0.8), fill=(224, 182, 150))
    for x in (0.4, 0.6):
        draw.ellipse((size * (x - 0.04), size * 0.4, size * (x + 0.04), size * 0.46), fill=(30, 30, 30))
    draw.arc((size * 0.4, size * 0.55, size * 0.6, size * 0.68), 0, 180, fill=(120, 40, 40), width=2)
    image.putpixel((0, 0), (seed % 256, seed // 256 % 256, 7))  # distinct bytes (and hash) per seed
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def voice_wav(seconds: float = 1.5, rate: int = 16_000, freq: float = 180.0) -> bytes:
    """A short synthetic tone as 16-bit mono WAV bytes."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                      for i in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.LazyFunction(password_hash)


class PlatformRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlatformRole

    user = factory.SubFactory(UserFactory)
    role = PlatformRole.Role.LEGAL_REVIEWER


class LegalReviewerFactory(UserFactory):
    """A user holding the legal reviewer role."""

    username = factory.Sequence(lambda n: f"legal{n}")
    role = factory.RelatedFactory(PlatformRoleFactory, factory_related_name="user",
                                  role=PlatformRole.Role.LEGAL_REVIEWER)


class PlatformAdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    role = factory.RelatedFactory(PlatformRoleFactory, factory_related_name="user",
                                  role=PlatformRole.Role.PLATFORM_ADMIN)


class TalentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Talent

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"talent{n}"))
    display_name = factory.Sequence(lambda n: f"Host {n}")
    legal_name = factory.Sequence(lambda n: f"Synthetic Person {n}")
    verification = Talent.Verification.VERIFIED
    verified_at = factory.LazyFunction(timezone.now)


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")


class BrandMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrandMembership

    brand = factory.SubFactory(BrandFactory)
    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"member{n}"))
    role = BrandMembership.Role.MEMBER


class BrandOwnerFactory(BrandMembershipFactory):
    role = BrandMembership.Role.OWNER


class LikenessAssetFactory(factory.django.DjangoModelFactory):
    """A stored portrait (pass `data=` bytes for other content; kind VOICE with voice_wav() data)."""

    class Meta:
        model = LikenessAsset

    class Params:
        seed = factory.Sequence(lambda n: n)
        data = factory.LazyAttribute(lambda o: portrait_png(seed=o.seed) if o.kind == LikenessAsset.Kind.PORTRAIT
                                     else voice_wav(freq=150.0 + o.seed))

    talent = factory.SubFactory(TalentFactory)
    kind = LikenessAsset.Kind.PORTRAIT
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.data).hexdigest())
    extension = factory.LazyAttribute(lambda o: ".png" if o.kind == LikenessAsset.Kind.PORTRAIT else ".wav")
    content_type = factory.LazyAttribute(lambda o: "image/png" if o.kind == LikenessAsset.Kind.PORTRAIT
                                         else "audio/wav")
    size_bytes = factory.LazyAttribute(lambda o: len(o.data))
    width = factory.LazyAttribute(lambda o: 96 if o.kind == LikenessAsset.Kind.PORTRAIT else None)
    height = factory.LazyAttribute(lambda o: 96 if o.kind == LikenessAsset.Kind.PORTRAIT else None)
    duration_seconds = factory.LazyAttribute(lambda o: None if o.kind == LikenessAsset.Kind.PORTRAIT else 1.5)
    uploaded_by = factory.LazyAttribute(lambda o: o.talent.user)
    file = factory.LazyAttribute(lambda o: ContentFile(o.data, name=f"{o.sha256}{o.extension}"))


class ConsentGrantFactory(factory.django.DjangoModelFactory):
    """An active consent: face and voice, every use, Douyin and Taobao, cosmetics and apparel, CN, zh-CN."""

    class Meta:
        model = ConsentGrant

    talent = factory.SubFactory(TalentFactory)
    document_title = "Consent to a digital clone of my face and voice"
    document_version = "1.0"
    document_text = "I consent to the creation and licensed use of a digital clone of my face and voice."
    document_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.document_text.encode()).hexdigest())
    modalities = factory.LazyFunction(lambda: ["face", "voice"])
    permitted_uses = factory.LazyFunction(lambda: ["clone_creation", "live_rendering", "recorded_video"])
    platforms = factory.LazyFunction(lambda: ["douyin", "taobao"])
    allowed_categories = factory.LazyFunction(lambda: ["apparel", "cosmetics"])
    excluded_categories = factory.LazyFunction(lambda: ["alcohol"])
    territories = factory.LazyFunction(lambda: ["CN"])
    languages = factory.LazyFunction(lambda: ["zh-CN"])
    prohibited_topics = factory.LazyFunction(lambda: ["guaranteed cure"])
    valid_from = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=365))
    evidence_phrase = "BLUE-OTTER-42"
    given_by = factory.LazyAttribute(lambda o: o.talent.user)
    given_at = factory.LazyFunction(timezone.now)
    given_ip = "192.0.2.10"
    given_user_agent = "pytest"


class LicenseFactory(factory.django.DjangoModelFactory):
    """A requested license inside its grant's scope; `requested_by` is made a member of `brand`."""

    class Meta:
        model = License
        skip_postgeneration_save = True

    grant = factory.SubFactory(ConsentGrantFactory)
    talent = factory.LazyAttribute(lambda o: o.grant.talent)
    brand = factory.SubFactory(BrandFactory)
    requested_by = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"brandrep{n}"))
    modalities = factory.LazyFunction(lambda: ["face", "voice"])
    permitted_uses = factory.LazyFunction(lambda: ["clone_creation", "live_rendering"])
    platforms = factory.LazyFunction(lambda: ["douyin"])
    product_categories = factory.LazyFunction(lambda: ["cosmetics"])
    territories = factory.LazyFunction(lambda: ["CN"])
    languages = factory.LazyFunction(lambda: ["zh-CN"])
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    max_concurrent_streams = 2
    max_hours_per_day = Decimal("8")
    max_hours_total = Decimal("100")
    fee_amount = Decimal("5000")
    status = License.Status.REQUESTED

    @factory.post_generation
    def membership(obj, create, extracted, **kwargs):
        if create:
            BrandMembership.objects.get_or_create(brand=obj.brand, user=obj.requested_by)


class ActiveLicenseFactory(LicenseFactory):
    """Approved by the talent, countersigned by a legal reviewer, active now."""

    status = License.Status.ACTIVE
    approved_by = factory.LazyAttribute(lambda o: o.talent.user)
    approved_at = factory.LazyFunction(timezone.now)
    countersigned_by = factory.SubFactory(LegalReviewerFactory)
    countersigned_at = factory.LazyFunction(timezone.now)
