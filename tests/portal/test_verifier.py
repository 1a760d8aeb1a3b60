"""The public verifier: uploads checked by content and size; owners' details only for those who may see them."""
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name="frame.png"):
    return client.post("/verify/", {"file": SimpleUploadedFile(name, data, content_type="image/png")})


def png(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def test_a_file_is_judged_by_its_content_not_its_name(client):
    response = upload(client, b"<html>not an image</html>", name="frame.png")
    assert response.context["result"] is None
    assert "Upload a JPEG or PNG image, or an MP4 video." in response.content.decode()


def test_a_damaged_image_is_refused(client):
    response = upload(client, png()[:40])
    assert response.context["result"] is None
    assert "could not be read" in response.content.decode()


def test_an_upload_over_the_size_limit_is_refused(client, settings):
    settings.VERIFIER_MAX_UPLOAD_BYTES = 100
    response = upload(client, png(size=(256, 256)))
    assert response.context["result"] is None
    assert "the limit is" in response.content.decode()


def test_an_image_with_too_many_pixels_is_refused_before_decoding(client, settings):
    settings.VERIFIER_MAX_IMAGE_PIXELS = 1000
    assert "too many pixels" in upload(client, png()).content.decode()


def test_an_unmarked_image_is_reported_without_ai_marks(client):
    response = upload(client, png())
    result = response.context["result"]
    assert result.report.status == "no_manifest" and not result.ai_generated and result.owner is None
    assert "No AI marks found" in response.content.decode()


def test_a_rendered_segment_is_ai_generated_and_its_owner_shown_only_to_its_parties(client, rendered_segment, legal):
    data = rendered_segment.segment_bytes
    anonymous = upload(client, data, name="clip.mp4").context["result"]
    assert anonymous.ai_generated and anonymous.report.status == "trusted"
    assert any("watermark" in s.lower() for s in anonymous.ai_signals)
    assert any("AIGC" in s for s in anonymous.ai_signals)
    assert anonymous.owner is None

    for user in (rendered_segment.brand_user, rendered_segment.talent_user, legal):
        client.force_login(user)
        owner = upload(client, data, name="clip.mp4").context["result"].owner
        assert owner["stream"] == rendered_segment.stream.pk and owner["matched_by"] == "exact file"
        assert owner["talent"] == "Host 3" and owner["brand"] == "Brand 3"

    from tests.portal.conftest import Tenant

    stranger = Tenant(4).brand_user
    client.force_login(stranger)
    response = upload(client, data, name="clip.mp4")
    assert response.context["result"].owner is None
    assert "Host 3" not in response.content.decode()


def test_the_api_verifies_too(api):
    ok = api.post("/api/verify/", {"file": SimpleUploadedFile("f.png", png())}, format="multipart")
    assert ok.status_code == 200
    assert ok.json()["result"]["report"]["status"] == "no_manifest"
    bad = api.post("/api/verify/", {"file": SimpleUploadedFile("f.png", b"nope")}, format="multipart")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"file": ["Upload a JPEG or PNG image, or an MP4 video."]}


def test_page_and_api_share_one_rate_limit_per_caller(api, client, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "verify", "2/min")
    assert upload(client, png()).status_code == 200
    assert api.post("/api/verify/", {"file": SimpleUploadedFile("f.png", png())}, format="multipart").status_code == 200
    refused = api.post("/api/verify/", {"file": SimpleUploadedFile("f.png", png())}, format="multipart")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled"
    page = upload(client, png())
    assert page.status_code == 429 and "Too many checks" in page.content.decode()
