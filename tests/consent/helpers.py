"""Rows of the rendering app that consent tests need as facts (created directly, no rendering)."""
from django.core.files.base import ContentFile

from consent.models import LikenessAsset
from rendering.models import Clone, Stream
from tests.factories import LikenessAssetFactory


def make_clone(license, *, status=Clone.Status.READY, asset=None):
    asset = asset or LikenessAsset.objects.filter(talent=license.talent, kind=LikenessAsset.Kind.PORTRAIT,
                                                  deleted_at__isnull=True).first() \
        or LikenessAssetFactory(talent=license.talent)
    clone = Clone(license=license, talent=license.talent, source_asset=asset, requested_by=license.requested_by,
                  status=status, sha256="c" * 64)
    clone.portrait.save("clone.png", ContentFile(b"normalised portrait bytes"), save=False)
    clone.save()
    return clone


def make_stream(license, *, status=Stream.Status.RUNNING, clone=None):
    return Stream.objects.create(
        license=license, clone=clone or make_clone(license), created_by=license.requested_by, audio="stream-audio/a.wav",
        audio_sha256="a" * 64, audio_seconds=10.0, platform="douyin", product_category="cosmetics", territory="CN",
        language="zh-CN", width=64, height=64, status=status,
    )
