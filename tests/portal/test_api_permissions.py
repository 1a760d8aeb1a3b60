"""Every API endpoint against every kind of caller: another tenant's rows are never found (404), a
visible row the caller may not act on is a 403, staff-only endpoints are a 403 for everyone else."""
import pytest

pytestmark = pytest.mark.django_db

# (method, path template, body). Placeholders name attributes of the tenant owning the object.
OBJECT_READS = [
    "/api/licenses/{active.pk}/",
    "/api/licenses/{active.pk}/usage/",
    "/api/clones/{clone.pk}/",
    "/api/streams/{stream.pk}/",
    "/api/streams/{stream.pk}/segments/",
    "/api/segments/{segment.pk}/",
]
LICENSE_MOVES = ["approve", "decline", "counter", "accept-counter", "withdraw", "countersign", "suspend",
                 "reinstate", "revoke", "complete"]
LISTS = ["/api/grants/", "/api/licenses/", "/api/clones/", "/api/streams/", "/api/segments/"]


def url(template: str, owner) -> str:
    return template.format(**vars(owner))


def user_of(kind: str, tenant, other, legal):
    return {"own_talent": tenant.talent_user, "own_brand": tenant.brand_user, "other_talent": other.talent_user,
            "other_brand": other.brand_user, "legal": legal}[kind]


@pytest.mark.parametrize("template", OBJECT_READS)
@pytest.mark.parametrize("kind, expected", [
    ("own_talent", 200), ("own_brand", 200), ("legal", 200), ("other_talent", 404), ("other_brand", 404),
])
def test_object_reads(api, tenant, other, legal, template, kind, expected):
    response = api.as_user(user_of(kind, tenant, other, legal)).get(url(template, tenant))
    assert response.status_code == expected, response.content
    if expected == 404:
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize("kind, expected", [
    ("own_talent", 200), ("legal", 200), ("own_brand", 404), ("other_talent", 404), ("other_brand", 404),
])
def test_full_consent_records_are_for_the_talent_and_legal_only(api, tenant, other, legal, kind, expected):
    response = api.as_user(user_of(kind, tenant, other, legal)).get(f"/api/grants/{tenant.grant.pk}/")
    assert response.status_code == expected


def test_offers_show_brands_the_scope_but_not_the_evidence(api, tenant, other):
    response = api.as_user(other.brand_user).get(f"/api/offers/{tenant.grant.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["platforms"] == tenant.grant.platforms
    assert not {"evidence_phrase", "evidence_sha256", "document_text"} & set(body)
    # A talent without a brand has nothing on offer to browse.
    assert api.as_user(tenant.talent_user).get("/api/offers/").json()["count"] == 0


@pytest.mark.parametrize("template", LISTS)
@pytest.mark.parametrize("kind", ["own_talent", "own_brand", "other_talent", "other_brand"])
def test_lists_never_include_another_tenants_rows(api, tenant, other, legal, template, kind):
    user = user_of(kind, tenant, other, legal)
    owner, stranger = (tenant, other) if kind.startswith("own") else (other, tenant)
    results = api.as_user(user).get(template).json()["results"]
    stranger_ids = {stranger.grant.pk, stranger.requested.pk, stranger.active.pk, stranger.clone.pk,
                    stranger.stream.pk, stranger.segment.pk}
    own_ids = {owner.grant.pk, owner.requested.pk, owner.active.pk, owner.clone.pk, owner.stream.pk,
               owner.segment.pk}
    ids = {row["id"] for row in results}
    assert not ids & (stranger_ids - own_ids)
    if "grants" in template and "brand" in kind:
        assert ids == set()
    else:
        assert ids


def test_legal_lists_see_every_tenant(api, tenant, other, legal):
    ids = {row["id"] for row in api.as_user(legal).get("/api/streams/").json()["results"]}
    assert ids == {tenant.stream.pk, other.stream.pk}


@pytest.mark.parametrize("move", LICENSE_MOVES)
@pytest.mark.parametrize("kind", ["other_talent", "other_brand"])
def test_license_moves_on_another_tenants_license_are_not_found(api, tenant, other, legal, move, kind):
    response = api.as_user(user_of(kind, tenant, other, legal)).post(
        f"/api/licenses/{tenant.requested.pk}/{move}/", {"reason": "x"}, format="json")
    assert response.status_code == 404
    tenant.requested.refresh_from_db()
    assert tenant.requested.status == "requested"


@pytest.mark.parametrize("move, kind", [
    ("approve", "own_brand"), ("counter", "own_brand"), ("countersign", "own_talent"),
    ("countersign", "own_brand"), ("withdraw", "own_talent"), ("decline", "own_brand"),
])
def test_a_party_cannot_make_another_partys_move(api, tenant, other, legal, move, kind):
    response = api.as_user(user_of(kind, tenant, other, legal)).post(
        f"/api/licenses/{tenant.requested.pk}/{move}/", {"max_hours_total": "1"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_permitted"


@pytest.mark.parametrize("kind, expected", [("other_talent", 404), ("own_brand", 404), ("other_brand", 404)])
def test_only_the_talent_revokes_their_consent(api, tenant, other, legal, kind, expected):
    response = api.as_user(user_of(kind, tenant, other, legal)).post(f"/api/grants/{tenant.grant.pk}/revoke/")
    assert response.status_code == expected
    tenant.grant.refresh_from_db()
    assert tenant.grant.status == "active"


@pytest.mark.parametrize("kind, expected", [("other_brand", 404), ("other_talent", 404), ("own_talent", 403)])
def test_only_the_brand_stops_its_stream(api, tenant, other, legal, kind, expected):
    response = api.as_user(user_of(kind, tenant, other, legal)).post(f"/api/streams/{tenant.stream.pk}/stop/")
    assert response.status_code == expected
    tenant.stream.refresh_from_db()
    assert tenant.stream.stop_requested_at is None


def test_creating_under_another_tenants_license_or_clone_is_not_found(api, tenant, other):
    client = api.as_user(other.brand_user)
    assert client.post("/api/clones/", {"license": tenant.active.pk}, format="json").status_code == 404
    response = client.post("/api/streams/", {
        "clone": tenant.clone.pk, "audio": b"", "platform": "douyin", "product_category": "cosmetics",
        "territory": "CN", "language": "zh-CN"}, format="multipart")
    assert response.status_code in (400, 404)  # the empty audio may be refused first; never created
    assert tenant.active.streams.count() == 1


def test_a_license_cannot_be_requested_for_someone_elses_brand(api, tenant, other):
    response = api.as_user(other.brand_user).post("/api/licenses/", {
        "brand": tenant.brand.pk, "grant": tenant.grant.pk, "modalities": ["face"],
        "permitted_uses": ["live_rendering"], "platforms": ["douyin"], "product_categories": ["cosmetics"],
        "territories": ["CN"], "languages": ["zh-CN"], "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-02-01T00:00:00Z", "max_concurrent_streams": 1, "max_hours_per_day": "2",
        "max_hours_total": "10"}, format="json")
    assert response.status_code == 403
    assert tenant.brand.licenses.count() == 2


@pytest.mark.parametrize("path", ["/api/ledger/", "/api/ledger/verify/"])
def test_the_ledger_is_for_legal_staff(api, tenant, other, legal, admin_user, path):
    for user in (tenant.talent_user, tenant.brand_user):
        response = api.as_user(user).get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert api.as_user(legal).get(path).status_code == 200
    assert api.as_user(admin_user).get(path).status_code == 200


@pytest.mark.parametrize("path", [
    "/api/me/", "/api/grants/", "/api/offers/", "/api/licenses/", "/api/clones/", "/api/streams/", "/api/segments/",
    "/api/ledger/",
])
def test_anonymous_callers_are_refused(api, path):
    response = api.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_ledger_event_is_for_legal_staff_only(api, tenant, legal):
    api.as_user(tenant.talent_user).post(f"/api/licenses/{tenant.requested.pk}/approve/")
    assert api.as_user(tenant.talent_user).get("/api/ledger/1/").status_code == 403
    event = api.as_user(legal).get("/api/ledger/1/").json()
    assert event["action"] == "license.approve" and len(event["signature"]) == 128


@pytest.mark.parametrize("kind", ["own_talent", "legal"])
def test_only_brand_members_create_clones_and_streams(api, tenant, other, legal, kind):
    client = api.as_user(user_of(kind, tenant, other, legal))
    clone = client.post("/api/clones/", {"license": tenant.active.pk}, format="json")
    assert clone.status_code == 403 and clone.json()["error"]["code"] == "not_permitted"
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import voice_wav

    stream = client.post("/api/streams/", {
        "clone": tenant.clone.pk, "audio": SimpleUploadedFile("a.wav", voice_wav()), "platform": "douyin",
        "product_category": "cosmetics", "territory": "CN", "language": "zh-CN"}, format="multipart")
    assert stream.status_code == 403 and stream.json()["error"]["code"] == "not_permitted"
    assert tenant.active.clones.count() == 1 and tenant.active.streams.count() == 1
