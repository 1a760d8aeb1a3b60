"""Likeness uploads are judged by content: bad files give a clear error and nothing is stored."""
import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from consent import services
from consent.exceptions import ConsentNotActive, InvalidUpload, NotPermitted
from consent.models import AuditEvent, LikenessAsset
from tests.factories import ConsentGrantFactory, portrait_png, voice_wav

pytestmark = pytest.mark.django_db


def upload(talent, kind, data, name="upload.png", content_type="image/png"):
    return services.upload_likeness_asset(talent=talent, kind=kind, actor=talent.user,
                                          uploaded_file=SimpleUploadedFile(name, data, content_type=content_type))


def stored_files(settings):
    root = settings.MEDIA_ROOT
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files] if os.path.exists(root) else []


def image_bytes(fmt, size=(96, 96)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 150, 120)).save(out, fmt)
    return out.getvalue()


def test_a_portrait_is_stored_under_its_hash(grant, settings):
    data = portrait_png(seed=5)
    asset = upload(grant.talent, LikenessAsset.Kind.PORTRAIT, data, name="../../me.exe")

    assert (asset.width, asset.height, asset.content_type, asset.size_bytes) == (96, 96, "image/png", len(data))
    assert asset.file.name == f"likeness/{grant.talent.pk}/{asset.sha256}.png"
    assert asset.file.read() == data
    assert AuditEvent.objects.get(action="likeness.uploaded").after["sha256"] == asset.sha256


def test_a_voice_sample_is_measured_by_decoding(grant):
    asset = upload(grant.talent, LikenessAsset.Kind.VOICE, voice_wav(seconds=1.5), name="v.bin",
                   content_type="application/octet-stream")

    assert asset.content_type == "audio/wav" and asset.extension == ".wav"
    assert asset.duration_seconds == pytest.approx(1.5, abs=0.01)


def truncated_png():
    return portrait_png(size=128)[:-300]


BAD = [
    ("truncated image", LikenessAsset.Kind.PORTRAIT, truncated_png, "upload_corrupt"),
    ("text posing as an image", LikenessAsset.Kind.PORTRAIT, lambda: b"<html>not a face</html>" * 20,
     "upload_wrong_type"),
    ("GIF", LikenessAsset.Kind.PORTRAIT, lambda: image_bytes("GIF"), "upload_wrong_type"),
    ("tiny image", LikenessAsset.Kind.PORTRAIT, lambda: image_bytes("PNG", (32, 32)), "upload_too_small"),
    ("empty file", LikenessAsset.Kind.PORTRAIT, lambda: b"", "upload_empty"),
    ("image posing as a voice", LikenessAsset.Kind.VOICE, lambda: portrait_png(), "upload_wrong_type"),
    ("noise posing as a voice", LikenessAsset.Kind.VOICE, lambda: os.urandom(4096), "upload_wrong_type"),
    ("too short a voice", LikenessAsset.Kind.VOICE, lambda: voice_wav(seconds=0.3), "upload_too_short"),
]


@pytest.mark.parametrize("label, kind, make, code", BAD, ids=[b[0] for b in BAD])
def test_bad_uploads_are_refused_and_nothing_is_stored(label, kind, make, code, grant, settings):
    with pytest.raises(InvalidUpload) as caught:
        upload(grant.talent, kind, make())

    assert caught.value.code == code
    assert caught.value.field == "file"
    assert caught.value.message  # says what to upload instead
    assert not LikenessAsset.objects.exists()
    assert not AuditEvent.objects.exists()
    assert stored_files(settings) == []


def test_an_oversize_file_is_refused_before_decoding(grant, settings):
    settings.LIKENESS_MAX_UPLOAD_BYTES = 1000

    with pytest.raises(InvalidUpload) as caught:
        upload(grant.talent, LikenessAsset.Kind.PORTRAIT, portrait_png(size=256))

    assert caught.value.code == "upload_too_large"
    assert stored_files(settings) == []


def test_too_many_pixels_is_refused_without_expanding_the_image(grant, settings):
    settings.LIKENESS_MAX_IMAGE_PIXELS = 100 * 100

    with pytest.raises(InvalidUpload) as caught:
        upload(grant.talent, LikenessAsset.Kind.PORTRAIT, image_bytes("PNG", (200, 120)))

    assert caught.value.code == "upload_too_large"


def test_a_too_long_voice_sample_is_refused(grant, settings):
    settings.LIKENESS_MAX_AUDIO_SECONDS = 1.0

    with pytest.raises(InvalidUpload) as caught:
        upload(grant.talent, LikenessAsset.Kind.VOICE, voice_wav(seconds=1.5))

    assert caught.value.code == "upload_too_long"


def test_no_biometric_upload_without_a_consent_covering_it(talent, settings):
    ConsentGrantFactory(talent=talent, modalities=["voice"])

    with pytest.raises(ConsentNotActive) as caught:
        upload(talent, LikenessAsset.Kind.PORTRAIT, portrait_png())

    assert caught.value.code == "no_consent_for_modality"
    assert stored_files(settings) == []


def test_the_talent_may_erase_their_own_media_and_no_one_else(grant, brand_user, settings):
    asset = upload(grant.talent, LikenessAsset.Kind.PORTRAIT, portrait_png(seed=9))

    with pytest.raises(NotPermitted):
        services.erase_likeness_asset(asset=asset, actor=brand_user, reason="not theirs")
    erased = services.erase_likeness_asset(asset=asset, actor=grant.talent.user, reason="changed my mind")

    assert erased.is_deleted and erased.sha256 == asset.sha256
    assert AuditEvent.objects.get(action="likeness.erased").after["reason"] == "changed my mind"
