"""Sign-in, rate limiting, CSRF, secure headers, and role gates on the pages."""
import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password, ip="198.51.100.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_sign_in_routes_a_single_role_to_its_portal(client, tenant):
    response = login(client, "talent-1", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").url == "/talent/"


def test_someone_with_several_roles_chooses_a_portal(client, tenant, legal):
    from consent.models import BrandMembership

    BrandMembership.objects.create(brand=tenant.brand, user=legal)
    client.force_login(legal)
    page = client.get("/").content.decode()
    assert 'href="/brand/"' in page and 'href="/legal/"' in page and 'href="/talent/"' not in page


def test_login_is_refused_after_repeated_failures_even_with_the_right_password(client, tenant, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert "Please enter a correct username" in login(client, "talent-1", "wrong").content.decode()
    refused = login(client, "talent-1", PASSWORD)
    assert refused.status_code == 200
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out of the same account by this one.
    assert login(Client(), "talent-1", PASSWORD, ip="203.0.113.9").status_code == 302


def test_a_successful_login_resets_the_users_counter(client, tenant, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        login(client, "talent-1", "wrong")
    assert login(client, "talent-1", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        login(client, "talent-1", "wrong")
    assert login(client, "talent-1", PASSWORD).status_code == 302


def test_one_address_spraying_many_accounts_is_stopped(client, tenant, other, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES_PER_IP = 4
    for name in ("a", "b", "c", "d"):
        login(client, name, "wrong")
    assert "Too many failed" in login(client, "talent-2", PASSWORD).content.decode()


def test_the_token_endpoint_shares_the_login_limit(api, tenant, settings):
    settings.PORTAL_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        assert api.post("/api/auth/token/", {"username": "brand-1", "password": "nope"}).status_code == 400
    refused = api.post("/api/auth/token/", {"username": "brand-1", "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "login_throttled"


def test_login_needs_a_csrf_token(tenant):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/login/", {"username": "talent-1", "password": PASSWORD}).status_code == 403
    page = strict.get("/login/")
    token = page.cookies["csrftoken"].value
    ok = strict.post("/login/", {"username": "talent-1", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    session_cookie = ok.cookies["sessionid"]
    assert session_cookie["httponly"] and session_cookie["samesite"] == "Lax"


def test_pages_send_a_strict_content_security_policy(client, tenant):
    client.force_login(tenant.talent_user)
    response = client.get("/talent/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    # Pages carry no inline script or style for the policy to break.
    html = response.content.decode()
    assert "<script>" not in html and "style=" not in html


def test_api_docs_allow_inline_styles_but_still_only_local_scripts(client):
    policy = client.get("/api/docs/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy


@pytest.mark.parametrize("path", ["/talent/", "/brand/", "/legal/", "/legal/ledger/"])
def test_portals_need_a_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.url.startswith("/login/?next=")


@pytest.mark.parametrize("user_kind, path", [
    ("brand", "/talent/"), ("talent", "/brand/"), ("talent", "/legal/"), ("brand", "/legal/ledger/"),
])
def test_each_portal_is_for_its_role(client, tenant, user_kind, path):
    client.force_login(tenant.brand_user if user_kind == "brand" else tenant.talent_user)
    response = client.get(path)
    assert response.status_code == 403
    assert "This page is not for your account" in response.content.decode()


def test_logout_is_a_post(client, tenant):
    client.force_login(tenant.talent_user)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert "_auth_user_id" not in client.session
