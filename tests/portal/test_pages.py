"""The pages for talent, brands and legal, driven through Django's test client."""
import datetime as dt
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consent.models import AuditEvent, ConsentGrant, License
from rendering.models import Stream
from tests.factories import voice_wav

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
SCOPE = {
    "modalities": ["face", "voice"], "permitted_uses": ["clone_creation", "live_rendering"],
    "platforms": ["douyin", "taobao"], "allowed_categories": "Skincare, snacks",
    "excluded_categories": "alcohol", "territories": "cn", "languages": "zh-CN",
    "prohibited_topics": "miracle cure", "valid_from": TODAY.isoformat(),
    "valid_until": (TODAY + dt.timedelta(days=90)).isoformat(),
}


def start_consent(client):
    response = client.post("/talent/consent/new/", SCOPE)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response


def sign(client, token, **ticks):
    return client.post("/talent/consent/sign/", {
        "token": token, **ticks, "evidence_file": SimpleUploadedFile("statement.wav", voice_wav(), "audio/wav")})


# --- Talent --------------------------------------------------------------------------------------


def test_consent_is_given_with_the_full_document_a_separate_tick_per_modality_and_a_recorded_phrase(client, tenant):
    client.force_login(tenant.talent_user)
    step = start_consent(client)
    phrase, document, token = step.context["phrase"], step.context["document"], step.context["form"].initial["token"]
    page = step.content.decode()
    assert phrase in page and f"I, {tenant.talent.legal_name}, known as Host 1" in document
    assert "Platforms: Douyin, Taobao Live" in document and "Never for: alcohol" in document

    only_face = sign(client, token, consent_face="on")
    assert only_face.status_code == 200
    assert "This field is required" in only_face.content.decode()  # voice needs its own tick
    assert not ConsentGrant.objects.filter(talent=tenant.talent, evidence_phrase=phrase).exists()

    done = sign(client, token, consent_face="on", consent_voice="on")
    grant = ConsentGrant.objects.get(talent=tenant.talent, evidence_phrase=phrase)
    assert done.status_code == 302 and done.url == f"/talent/consent/{grant.pk}/"
    assert grant.document_text == document  # stored exactly as shown
    assert grant.platforms == ["douyin", "taobao"] and grant.allowed_categories == ["skincare", "snacks"]
    assert grant.territories == ["CN"] and grant.evidence_sha256
    assert timezone.localtime(grant.valid_until).date() == TODAY + dt.timedelta(days=91)  # end of the last day
    assert AuditEvent.objects.filter(action="consent.granted", object_id=str(grant.pk)).exists()


def test_the_signing_step_cannot_be_tampered_with_or_replayed_by_someone_else(client, tenant, other):
    client.force_login(tenant.talent_user)
    token = start_consent(client).context["form"].initial["token"]
    forged = sign(client, token[:-2] + "xx", consent_face="on", consent_voice="on")
    assert forged.status_code == 302 and forged.url == "/talent/consent/new/"
    client.force_login(other.talent_user)
    assert sign(client, token, consent_face="on", consent_voice="on").url == "/talent/consent/new/"
    assert ConsentGrant.objects.count() == 2  # the two tenants' original grants only


def test_scope_input_is_checked_before_the_document_is_shown(client, tenant):
    client.force_login(tenant.talent_user)
    response = client.post("/talent/consent/new/", {**SCOPE, "territories": "China", "excluded_categories": "snacks"})
    assert response.templates[0].name == "portal/talent/consent_new.html"
    errors = response.context["form"].errors
    assert "territories" in errors and "excluded_categories" in errors


def test_revoking_takes_one_confirmation_and_acts_at_once(client, tenant, django_capture_on_commit_callbacks):
    client.force_login(tenant.talent_user)
    confirm = client.get(f"/talent/consent/{tenant.grant.pk}/revoke/")
    text = confirm.content.decode()
    assert "2 licenses under it are revoked" in text and "1 running stream stops" in text
    with django_capture_on_commit_callbacks(execute=False):
        done = client.post(f"/talent/consent/{tenant.grant.pk}/revoke/", {"reason": ""})
    assert done.status_code == 302
    tenant.grant.refresh_from_db()
    assert tenant.grant.status == "revoked"
    assert set(License.objects.filter(grant=tenant.grant).values_list("status", flat=True)) == {"revoked"}
    assert Stream.objects.get(pk=tenant.stream.pk).end_reason == "consent_revoked"


def test_request_page_shows_the_scope_in_plain_words_and_the_diff_against_the_consent(client, tenant):
    client.force_login(tenant.talent_user)
    page = client.get(f"/talent/requests/{tenant.requested.pk}/")
    text = page.content.decode()
    assert "Brand 1 asks to use your likeness" in text
    assert "Up to 8 hours a day, 100 hours in total, 2 streams at a time" in text
    assert "CNY 5,000.00" in text
    platforms = next(row for row in page.context["diff"] if row.label == "Platforms")
    assert (platforms.requested, platforms.not_requested, platforms.status) == ("Douyin", "Taobao Live", "narrower")
    assert {a.name for a in page.context["actions"]} == {"approve", "decline", "revoke"}


def test_approve_from_the_request_page(client, tenant):
    client.force_login(tenant.talent_user)
    url = f"/talent/requests/{tenant.requested.pk}/"
    response = client.post(f"/licenses/{tenant.requested.pk}/approve/", {"next": url}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert "You approved the license" in response.content.decode()
    tenant.requested.refresh_from_db()
    assert tenant.requested.status == "approved"


def test_a_brand_member_cannot_press_the_talents_button(client, tenant):
    client.force_login(tenant.brand_user)
    response = client.post(f"/licenses/{tenant.requested.pk}/approve/", follow=True)
    assert "You are not allowed to do this" in response.content.decode()
    tenant.requested.refresh_from_db()
    assert tenant.requested.status == "requested"


def test_counter_offer_from_the_page_sends_only_the_narrowed_terms(client, tenant):
    client.force_login(tenant.talent_user)
    form = client.get(f"/talent/requests/{tenant.requested.pk}/counter/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not None}
    data["max_hours_total"] = "30"
    response = client.post(f"/talent/requests/{tenant.requested.pk}/counter/", data)
    assert response.status_code == 302, response.context["form"].errors
    tenant.requested.refresh_from_db()
    assert tenant.requested.status == "countered" and tenant.requested.max_hours_total == 30
    event = AuditEvent.objects.get(action="license.counter")
    changed = {k for k in event.after if event.after[k] != event.before[k]}
    assert changed == {"max_hours_total", "status", "status_changed_at"}


def test_uses_page_lists_hours_by_platform_and_earnings(client, tenant):
    client.force_login(tenant.talent_user)
    page = client.get("/talent/uses/")
    uses = {use["license"].pk: use for use in page.context["uses"]}
    assert uses[tenant.active.pk]["hours_by_platform"] == {"douyin": pytest.approx(1 / 3600)}
    assert uses[tenant.active.pk]["fee_earned"] == 5000 and uses[tenant.requested.pk]["fee_earned"] == 0
    assert f"#{tenant.stream.pk}" in page.content.decode()


def test_another_talents_pages_are_not_found(client, tenant, other):
    client.force_login(other.talent_user)
    for path in (f"/talent/requests/{tenant.requested.pk}/", f"/talent/consent/{tenant.grant.pk}/",
                 f"/talent/consent/{tenant.grant.pk}/revoke/", f"/streams/{tenant.stream.pk}/",
                 f"/media/segments/{tenant.segment.pk}.mp4"):
        assert client.get(path).status_code == 404, path


# --- Brand ---------------------------------------------------------------------------------------


def test_brand_requests_a_license_inside_a_consent(client, tenant, other):
    client.force_login(tenant.brand_user)
    offers = client.get("/brand/offers/").content.decode()
    assert "Host 1" in offers and "Host 2" in offers  # every active consent is on offer
    form = client.get(f"/brand/offers/{other.grant.pk}/request/").context["form"]
    assert [value for value, _ in form.fields["platforms"].choices] == other.grant.platforms
    starts = timezone.localdate()
    response = client.post(f"/brand/offers/{other.grant.pk}/request/", {
        "brand": tenant.brand.pk, "modalities": ["face"], "permitted_uses": ["live_rendering"],
        "platforms": ["taobao"], "product_categories": ["apparel"], "territories": ["CN"], "languages": ["zh-CN"],
        "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(days=10)).isoformat(),
        "max_concurrent_streams": 1, "max_hours_per_day": "3", "max_hours_total": "20", "fee_amount": "800",
        "fee_currency": "cny", "revenue_share_percent": "2.5"})
    license = License.objects.get(brand=tenant.brand, grant=other.grant)
    assert response.status_code == 302 and response.url == f"/brand/licenses/{license.pk}/"
    assert (license.status, license.platforms, license.fee_currency) == ("requested", ["taobao"], "CNY")
    page = client.get(response.url).content.decode()
    assert "Requested" in page and "CNY 800.00 plus 2.5% of sales" in page


def test_a_request_outside_the_consent_dates_is_refused_with_the_field_named(client, tenant):
    client.force_login(tenant.brand_user)
    late = (timezone.localdate() + dt.timedelta(days=400)).isoformat()
    response = client.post(f"/brand/offers/{tenant.grant.pk}/request/", {
        "brand": tenant.brand.pk, "modalities": ["face"], "permitted_uses": ["live_rendering"],
        "platforms": ["douyin"], "product_categories": ["cosmetics"], "territories": ["CN"], "languages": ["zh-CN"],
        "starts_at": timezone.localdate().isoformat(), "ends_at": late, "max_concurrent_streams": 1,
        "max_hours_per_day": "3", "max_hours_total": "20", "fee_amount": "0", "fee_currency": "CNY",
        "revenue_share_percent": "0"})
    assert response.status_code == 200
    assert "consent is valid only until" in " ".join(response.context["form"].errors["ends_at"])


def test_stream_console_and_gate_denial_reasons(client, tenant):
    client.force_login(tenant.brand_user)
    form_page = client.get(f"/brand/licenses/{tenant.active.pk}/streams/new/")
    assert form_page.context["has_clone"]
    denied = client.post(f"/brand/licenses/{tenant.active.pk}/streams/new/", {
        "clone": tenant.clone.pk, "audio": SimpleUploadedFile("a.wav", voice_wav(), "audio/wav"),
        "script_text": "This serum is a guaranteed cure.", "platform": "douyin", "product_category": "cosmetics",
        "territory": "CN", "language": "zh-CN", "stream_format": "preview"})
    assert denied.status_code == 200
    assert [r["code"] for r in denied.context["denial"]] == ["prohibited_topic"]
    assert "guaranteed cure" not in denied.context["denial"][0]["code"]
    console = client.get(f"/streams/{tenant.stream.pk}/")
    text = console.content.decode()
    assert 'data-status-url="/api/streams/' in text and "portal/stream.js" in text
    assert '<progress id="stream-progress" max="4" value="1"' in text


def test_brand_sees_usage_and_cost_per_license(client, tenant):
    client.force_login(tenant.brand_user)
    report = client.get(f"/brand/licenses/{tenant.active.pk}/").context["report"]
    assert report["streams"] == 1 and report["seconds_total"] == 1.0 and report["fee_amount"] == 5000


def test_another_brands_pages_are_not_found(client, tenant, other):
    client.force_login(other.brand_user)
    for path in (f"/brand/licenses/{tenant.active.pk}/", f"/brand/licenses/{tenant.active.pk}/streams/new/",
                 f"/streams/{tenant.stream.pk}/"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/licenses/{tenant.requested.pk}/withdraw/").status_code == 404
    assert client.post(f"/streams/{tenant.stream.pk}/stop/").status_code == 404


# --- Legal ---------------------------------------------------------------------------------------


def test_countersign_queue_and_report(client, tenant, legal):
    tenant.requested.status = License.Status.APPROVED
    tenant.requested.approved_at = timezone.now()
    tenant.requested.save()
    client.force_login(legal)
    home = client.get("/legal/")
    assert list(home.context["queue"]) == [tenant.requested]
    assert home.context["chain"].ok
    report = client.get(f"/legal/licenses/{tenant.requested.pk}/")
    assert {a.name for a in report.context["actions"]} == {"countersign", "decline", "revoke"}
    client.post(f"/licenses/{tenant.requested.pk}/countersign/")
    tenant.requested.refresh_from_db()
    assert tenant.requested.status == "active"


def test_ledger_timeline_filters_and_export(client, tenant, other, legal):
    client.force_login(tenant.talent_user)
    client.post(f"/licenses/{tenant.requested.pk}/approve/")
    client.force_login(legal)
    page = client.get("/legal/ledger/", {"talent": tenant.talent.pk, "action": "license.approve"})
    assert [e.action for e in page.context["page"]] == ["license.approve"]
    assert client.get("/legal/ledger/", {"brand": other.brand.pk}).context["page"].paginator.count == 0

    response = client.post("/legal/ledger/export/")
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert {"consentframe-evidence/manifest.json", "consentframe-evidence/events.jsonl",
            "consentframe-evidence/ledger_verify.py"} <= set(names)
    exported = AuditEvent.objects.get(action="ledger.exported")
    assert exported.actor_id == legal.pk
    events = zipfile.ZipFile(io.BytesIO(response.content)).read("consentframe-evidence/events.jsonl")
    assert b"ledger.exported" in events  # the bundle records its own export
