"""The API as an integration uses it: tokens, the license lifecycle, error codes, usage, the ledger, the schema."""
import datetime as dt

import pytest
from django.utils import timezone

from consent.models import AuditEvent, License

pytestmark = pytest.mark.django_db


def request_body(tenant, **overrides):
    now = timezone.now()
    return {
        "brand": tenant.brand.pk, "grant": tenant.grant.pk, "modalities": ["face"],
        "permitted_uses": ["clone_creation", "live_rendering"], "platforms": ["douyin"],
        "product_categories": ["cosmetics"], "territories": ["CN"], "languages": ["zh-CN"],
        "starts_at": (now - dt.timedelta(minutes=5)).isoformat(), "ends_at": (now + dt.timedelta(days=20)).isoformat(),
        "max_concurrent_streams": 1, "max_hours_per_day": "2.5", "max_hours_total": "40", "fee_amount": "1200.00",
        **overrides,
    }


def test_token_then_a_whole_license_lifecycle(api, tenant, legal):
    token = api.post("/api/auth/token/", {"username": "brand-1", "password": "test-password-123"}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    created = api.post("/api/licenses/", request_body(tenant), format="json")
    assert created.status_code == 201, created.content
    license_id = created.json()["id"]
    assert created.json()["status"] == "requested"

    assert api.as_user(tenant.talent_user).post(f"/api/licenses/{license_id}/approve/").json()["status"] == "approved"
    body = api.as_user(legal).post(f"/api/licenses/{license_id}/countersign/").json()
    assert body["status"] == "active"  # its term has started, so countersigning activates it
    suspended = api.as_user(legal).post(f"/api/licenses/{license_id}/suspend/", {"reason": "audit"}, format="json")
    assert suspended.json()["status"] == "suspended" and suspended.json()["status_reason"] == "audit"

    actions = list(AuditEvent.objects.filter(object_type="consent.license", object_id=str(license_id))
                   .values_list("action", flat=True))
    assert actions == ["license.requested", "license.approve", "license.countersign", "license.activate",
                       "license.suspend"]


def test_domain_errors_keep_their_stable_code_and_status(api, tenant, legal):
    client = api.as_user(tenant.talent_user)
    assert client.post(f"/api/licenses/{tenant.requested.pk}/approve/").status_code == 200
    again = client.post(f"/api/licenses/{tenant.requested.pk}/approve/")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"] == {"from_status": "approved", "action": "approve"}
    assert "approved" in error["message"]

    too_wide = api.as_user(tenant.brand_user).post(
        "/api/licenses/", request_body(tenant, platforms=["kuaishou"]), format="json")
    assert too_wide.status_code == 400
    assert too_wide.json()["error"]["code"] == "scope_exceeds_grant"
    assert too_wide.json()["error"]["field"] == "platforms"


def test_a_reason_is_required_to_suspend(api, tenant, legal):
    response = api.as_user(legal).post(f"/api/licenses/{tenant.active.pk}/suspend/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_input", "field": "reason",
        "message": "Give a reason: it is recorded in the ledger and shown to the brand and the talent."}


def test_validation_errors_name_the_fields(api, tenant):
    response = api.as_user(tenant.brand_user).post("/api/licenses/", {"brand": tenant.brand.pk}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"grant", "platforms", "starts_at"} <= set(error["fields"])


def test_counter_offer_narrows_and_the_brand_accepts(api, tenant):
    response = api.as_user(tenant.talent_user).post(
        f"/api/licenses/{tenant.requested.pk}/counter/", {"max_hours_total": "20", "max_hours_per_day": "1"},
        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "countered"
    assert response.json()["max_hours_total"] == "20.00"
    widened = api.as_user(tenant.talent_user).post(
        f"/api/licenses/{tenant.active.pk}/counter/", {"max_hours_total": "500"}, format="json")
    assert widened.status_code == 403  # only a requested license can be countered
    accepted = api.as_user(tenant.brand_user).post(f"/api/licenses/{tenant.requested.pk}/accept-counter/")
    assert accepted.json()["status"] == "approved"


def test_revoking_consent_through_the_api_revokes_its_licenses(api, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.as_user(tenant.talent_user).post(f"/api/grants/{tenant.grant.pk}/revoke/",
                                                        {"reason": "changed my mind"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    statuses = set(License.objects.filter(grant=tenant.grant).values_list("status", flat=True))
    assert statuses == {"revoked"}
    tenant.stream.refresh_from_db()
    assert tenant.stream.stop_requested_at is not None and tenant.stream.end_reason == "consent_revoked"


def test_usage_reports_hours_per_platform_and_cost(api, tenant):
    body = api.as_user(tenant.brand_user).get(f"/api/licenses/{tenant.active.pk}/usage/").json()
    assert body["seconds_total"] == 1.0
    assert body["hours_by_platform"] == {"douyin": pytest.approx(1 / 3600)}
    assert body["streams"] == 1 and body["segments"] == 1
    assert body["fee_amount"] == "5000.00"
    assert float(body["fee_per_hour"]) == pytest.approx(5000 * 3600, rel=1e-6)


def test_stream_progress_and_stop(api, tenant):
    client = api.as_user(tenant.brand_user)
    body = client.get(f"/api/streams/{tenant.stream.pk}/").json()
    assert (body["segments_done"], body["segment_count"], body["seconds_rendered"]) == (1, 4, 1.0)
    assert body["stop_requested"] is False
    stopped = client.post(f"/api/streams/{tenant.stream.pk}/stop/", {"reason": "end of show"}, format="json")
    assert stopped.status_code == 200
    assert stopped.json()["stop_requested"] is True and stopped.json()["end_reason"] == "stopped_by_user"
    segments = client.get(f"/api/streams/{tenant.stream.pk}/segments/").json()["results"]
    assert [s["sequence"] for s in segments] == [0]
    assert segments[0]["file_url"] == f"/media/segments/{tenant.segment.pk}.mp4"


def test_ledger_filters_and_verification(api, tenant, other, legal):
    # Events made through the services: one on each tenant's license.
    api.as_user(tenant.talent_user).post(f"/api/licenses/{tenant.requested.pk}/approve/")
    api.as_user(other.talent_user).post(f"/api/licenses/{other.requested.pk}/decline/")
    client = api.as_user(legal)
    mine = client.get("/api/ledger/", {"talent": tenant.talent.pk}).json()["results"]
    assert [(e["action"], e["object_id"]) for e in mine] == [("license.approve", str(tenant.requested.pk))]
    assert client.get("/api/ledger/", {"brand": other.brand.pk, "action": "license.decline"}).json()["count"] == 1
    assert client.get("/api/ledger/", {"license": tenant.active.pk}).json()["count"] == 0
    today = timezone.localdate().isoformat()
    assert client.get("/api/ledger/", {"since": today, "until": today}).json()["count"] == 2
    bad = client.get("/api/ledger/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]
    verify = client.get("/api/ledger/verify/").json()
    assert verify["ok"] is True and verify["checked"] == 2


def test_me_names_roles_and_tenancy(api, tenant):
    body = api.as_user(tenant.brand_user).get("/api/me/").json()
    assert body["roles"] == ["brand_member"]
    assert body["brands"] == [{"id": tenant.brand.pk, "name": "Brand 1", "slug": "brand-1"}]
    assert body["talent"] is None


def test_openapi_schema_and_docs_page_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/licenses/{id}/countersign/", "/api/streams/", "/api/verify/", "/api/ledger/verify/"):
        assert path in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "static/drf_spectacular_sidecar/swagger-ui-dist" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
