"""End to end in a real browser (Debian's Chromium through Playwright), with a real Celery worker.

A talent grants consent on a phone, a brand requests a license on a desktop, the talent approves,
legal countersigns, the brand builds a clone and starts a stream, the talent revokes, and the
brand's console shows the stream stop. Screenshots land in test-artifacts/portal/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from consent.models import ConsentGrant, License, PlatformRole
from rendering.models import Stream
from tests.factories import PASSWORD, UserFactory, voice_wav
from tests.portal.browser import DESKTOP, PHONE, Person, requires_chromium
from tests.rendering.conftest import portrait_png, speech_wav

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


# Long enough that even an idle machine is still rendering when the talent revokes (1-s segments of
# the "preview" format); the revocation ends the stream after a few of them, so the test stays short.
STREAM_SECONDS = 180


def wav(data: bytes, name: str) -> dict:
    return {"name": name, "mimeType": "audio/wav", "buffer": data}


@pytest.fixture
def people(db):
    from consent.models import Brand, BrandMembership, Talent

    talent_user = UserFactory(username="mei")
    Talent.objects.create(user=talent_user, display_name="Mei Live", legal_name="Synthetic Mei Example")
    brand_user = UserFactory(username="acme")
    brand = Brand.objects.create(name="Acme Skincare", slug="acme")
    BrandMembership.objects.create(brand=brand, user=brand_user, role=BrandMembership.Role.OWNER)
    legal_user = UserFactory(username="lin")
    PlatformRole.objects.create(user=legal_user, role=PlatformRole.Role.LEGAL_REVIEWER)
    return talent_user, brand_user, legal_user


def give_consent(talent: Person) -> None:
    page = talent.page
    page.click("text=Give a new consent")
    for label in ("Face", "Voice", "Clone creation", "Live rendering", "Douyin"):
        page.get_by_label(label, exact=True).check()
    page.fill("#id_allowed_categories", "cosmetics, skincare")
    page.fill("#id_excluded_categories", "alcohol")
    page.fill("#id_prohibited_topics", "guaranteed cure")
    talent.shot("01-consent-scope")
    page.click("text=Next: read the document")
    phrase = page.inner_text("#phrase")
    assert phrase in page.inner_text(".document")
    page.check("#id_consent_face")
    page.check("#id_consent_voice")
    page.set_input_files("#id_evidence_file", wav(voice_wav(seconds=2.0), "statement.wav"))
    talent.shot("02-consent-sign")
    page.click("text=I consent")
    assert "Your consent is recorded" in page.inner_text("main")
    talent.shot("03-consent-given")


def request_license(brand: Person) -> None:
    page = brand.page
    page.click("text=Find talent and request a license")
    brand.shot("04-offers")
    page.click("text=Request a license")
    for name in ("permitted_uses", "platforms", "product_categories", "territories", "languages"):
        for box in page.locator(f"input[name={name}]").all():
            box.check()
    page.fill("#id_fee_amount", "8000")
    brand.shot("05-request-form")
    page.click("text=Send request")
    assert "Request sent to Mei Live" in page.inner_text("main")


def test_consent_license_stream_and_revocation_end_to_end(chromium, live_server, celery_worker, people):
    talent_user, brand_user, legal_user = people
    talent = Person(chromium, live_server.url, PHONE, "phone").login("mei", PASSWORD)
    brand = Person(chromium, live_server.url, DESKTOP, "desktop").login("acme", PASSWORD)
    legal = Person(chromium, live_server.url, DESKTOP, "desktop").login("lin", PASSWORD)

    give_consent(talent)
    talent.page.goto("/talent/likeness/")
    talent.page.get_by_label("Portrait image").check()
    talent.page.set_input_files("#id_file", {"name": "me.png", "mimeType": "image/png", "buffer": portrait_png()})
    talent.page.click("main button[type=submit]")
    assert "Uploaded" in talent.page.inner_text("main")

    request_license(brand)
    license = License.objects.get()
    assert license.status == "requested" and license.fee_amount == 8000

    talent.page.goto("/talent/")
    talent.shot("06-talent-inbox")
    talent.page.click("#inbox a")
    assert "Not asked: Voice" in talent.page.inner_text("main")  # the diff against the consent
    talent.shot("07-request-diff")
    talent.page.click("[data-action=approve]")
    assert "You approved the license" in talent.page.inner_text("main")

    legal.page.goto("/legal/")
    legal.shot("08-countersign-queue")
    legal.page.click("#countersign-queue a.button")
    legal.page.click("[data-action=countersign]")
    assert "Countersigned" in legal.page.inner_text("main")
    license.refresh_from_db()
    assert license.status == "active"

    page = brand.page
    page.goto(f"/brand/licenses/{license.pk}/")
    page.click("text=Create a clone")
    for _ in range(120):  # the worker builds it in the background
        if "Ready" in page.inner_text("#clones"):
            break
        page.wait_for_timeout(500)
        page.reload()
    page.click("text=Start a stream")
    page.select_option("#id_stream_format", "preview")
    page.set_input_files("#id_audio", wav(speech_wav(STREAM_SECONDS), "pitch.wav"))
    page.fill("#id_script_text", "欢迎来到直播间! Today: a gentle hydrating serum.")
    page.click("text=Start stream")
    # The console polls the API; no page reload from here on. (Playwright's wait_for_function would
    # need eval, which the page's CSP rightly refuses.)
    expect(page.locator("#stream-segments")).not_to_have_text(re.compile(r"^0 /"), timeout=90_000)
    expect(page.locator("#stream-status")).to_have_text("Running")
    brand.shot("09-stream-running")
    stream = Stream.objects.get()

    grant = ConsentGrant.objects.get()
    talent.page.goto(f"/talent/consent/{grant.pk}/")
    talent.page.click("text=Revoke this consent")
    talent.shot("10-revoke-confirm")
    talent.page.click("text=Yes, revoke now")
    assert "Your consent is revoked" in talent.page.inner_text("main")

    expect(page.locator("#stream-status")).to_have_text("Stopped", timeout=60_000)
    expect(page.locator("#stream-end-reason")).to_have_text("consent_revoked")
    expect(page.locator("#stop-form")).to_be_hidden()
    brand.shot("11-stream-stopped")

    stream.refresh_from_db()
    assert stream.status == "stopped" and stream.end_reason == "consent_revoked"
    assert 1 <= stream.segments.count() < stream.segment_count == STREAM_SECONDS
    license.refresh_from_db()
    assert license.status == "revoked"
    for person in (talent, brand, legal):
        assert person.errors == [], person.errors  # no script errors, nothing blocked by the CSP
        person.close()


PAGES = {
    "talent": ["/talent/", "/talent/requests/{requested.pk}/", "/talent/consent/{grant.pk}/", "/talent/uses/",
               "/talent/likeness/", "/talent/requests/{requested.pk}/counter/"],
    "brand": ["/brand/", "/brand/offers/", "/brand/licenses/{active.pk}/", "/streams/{stream.pk}/",
              "/brand/licenses/{active.pk}/streams/new/"],
    "legal": ["/legal/", "/legal/licenses/{active.pk}/", "/legal/ledger/"],
}


@pytest.mark.parametrize("viewport, label", [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_every_page_fits_the_screen_and_runs_without_errors(chromium, live_server, tenant, other, legal, viewport,
                                                            label):
    """Each page on a phone and a desktop: no sideways scrolling, no script or CSP errors; screenshots kept."""
    from consent import services as consent_services

    consent_services.approve_license(license=tenant.requested, actor=tenant.talent_user)  # a ledger to show
    logins = {"talent": "talent-1", "brand": "brand-1", "legal": legal.username}
    for role, paths in PAGES.items():
        person = Person(chromium, live_server.url, viewport, label).login(logins[role], PASSWORD)
        for path in paths:
            person.page.goto(path.format(**vars(tenant)))
            person.shot("page-" + re.sub(r"\{[^}]*\}", "id", path).strip("/").replace("/", "-"))
            assert person.horizontal_overflow() <= 0, f"{path} scrolls sideways on {label}"
        assert person.errors == [], person.errors
        person.close()

    visitor = Person(chromium, live_server.url, viewport, label)
    for path in ("/", "/login/", "/verify/", "/api/docs/"):
        visitor.page.goto(path)
        visitor.shot("public-" + (path.strip("/").replace("/", "-") or "home"))
        assert visitor.horizontal_overflow() <= 0, f"{path} scrolls sideways on {label}"
    expect(visitor.page.locator(".swagger-ui .title")).to_contain_text("Consentframe API")
    visitor.shot("public-api-docs")
    assert visitor.errors == [], visitor.errors
    visitor.close()


def test_the_public_verifier_in_the_browser(chromium, live_server, rendered_segment):
    visitor = Person(chromium, live_server.url, PHONE, "phone")
    visitor.page.goto("/verify/")
    visitor.page.set_input_files("#id_file", {"name": "clip.mp4", "mimeType": "video/mp4",
                                              "buffer": rendered_segment.segment_bytes})
    visitor.page.click("main button[type=submit]")
    expect(visitor.page.locator("#verdict")).to_contain_text("AI-generated")
    expect(visitor.page.locator("#c2pa-status")).to_contain_text("Valid and trusted")
    expect(visitor.page.locator("#owner")).to_have_count(0)  # a stranger learns nothing about the owner
    visitor.shot("verify-result")
    assert visitor.horizontal_overflow() <= 0
    visitor.close()

    brand = Person(chromium, live_server.url, DESKTOP, "desktop").login("brand-3", PASSWORD)
    brand.page.goto("/verify/")
    brand.page.set_input_files("#id_file", {"name": "clip.mp4", "mimeType": "video/mp4",
                                            "buffer": rendered_segment.segment_bytes})
    brand.page.click("main button[type=submit]")
    expect(brand.page.locator("#owner")).to_contain_text("Host 3")
    brand.shot("verify-result-owner")
    assert brand.errors == [], brand.errors
    brand.close()
