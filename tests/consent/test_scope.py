"""A license must stay inside the consent it is built on; the service names the field that does not."""
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from consent import services
from consent.exceptions import ConsentNotActive, InvalidInput, NotPermitted, ScopeExceedsGrant
from consent.models import AuditEvent, License
from tests.factories import ConsentGrantFactory, LicenseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def narrow_grant(talent):
    now = timezone.now()
    return ConsentGrantFactory(
        talent=talent, modalities=["face"], permitted_uses=["live_rendering"], platforms=["douyin"],
        allowed_categories=["cosmetics"], excluded_categories=["alcohol"], territories=["CN"], languages=["zh-CN"],
        valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=30),
    )


def scope(grant, **changes):
    now = timezone.now()
    values = dict(modalities=["face"], permitted_uses=["live_rendering"], platforms=["douyin"],
                  product_categories=["cosmetics"], territories=["cn"], languages=["zh-CN"], starts_at=now,
                  ends_at=now + dt.timedelta(days=7), max_concurrent_streams=1, max_hours_per_day=4,
                  max_hours_total=40)
    values.update(changes)
    return values


WIDER = [
    ("modalities", {"modalities": ["face", "voice"]}),
    ("permitted_uses", {"permitted_uses": ["live_rendering", "recorded_video"]}),
    ("platforms", {"platforms": ["douyin", "jd"]}),
    ("product_categories", {"product_categories": ["apparel"]}),
    ("product_categories", {"product_categories": ["alcohol"]}),
    ("territories", {"territories": ["CN", "US"]}),
    ("languages", {"languages": ["en-US"]}),
    ("starts_at", {"starts_at": timezone.now() - dt.timedelta(days=3)}),
    ("ends_at", {"ends_at": timezone.now() + dt.timedelta(days=60)}),
]


@pytest.mark.parametrize("field, changes", WIDER, ids=[f"{f}-{i}" for i, (f, _) in enumerate(WIDER)])
def test_request_wider_than_the_grant_is_refused_naming_the_field(field, changes, narrow_grant, brand, brand_user):
    with pytest.raises(ScopeExceedsGrant) as caught:
        services.request_license(brand=brand, grant=narrow_grant, actor=brand_user, **scope(narrow_grant, **changes))

    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}:")
    assert not License.objects.exists()
    assert not AuditEvent.objects.exists()


def test_request_inside_the_grant_is_recorded_normalised(narrow_grant, brand, brand_user):
    license = services.request_license(brand=brand, grant=narrow_grant, actor=brand_user, **scope(narrow_grant),
                                       request_meta={"ip": "198.51.100.7", "user_agent": "Mozilla/5.0"})

    assert license.status == License.Status.REQUESTED
    assert license.talent == narrow_grant.talent
    assert license.territories == ["CN"]
    event = AuditEvent.objects.get(action="license.requested")
    assert event.object_id == str(license.pk)
    assert event.after["platforms"] == ["douyin"]
    assert event.request_meta == {"ip": "198.51.100.7", "user_agent": "Mozilla/5.0"}


@pytest.mark.parametrize("field, value", [("platforms", ["myspace"]), ("modalities", ["smell"]),
                                          ("territories", ["China"]), ("max_hours_per_day", 25),
                                          ("max_concurrent_streams", 0), ("revenue_share_percent", 120),
                                          ("fee_currency", "yuan"), ("platforms", [])])
def test_malformed_values_are_refused_naming_the_field(field, value, narrow_grant, brand, brand_user):
    with pytest.raises(InvalidInput) as caught:
        services.request_license(brand=brand, grant=narrow_grant, actor=brand_user,
                                 **scope(narrow_grant, **{field: value}))

    assert caught.value.field == field


def test_a_revoked_consent_takes_no_new_requests(brand, brand_user):
    grant = ConsentGrantFactory(status="revoked", revoked_at=timezone.now())

    with pytest.raises(ConsentNotActive):
        services.request_license(brand=brand, grant=grant, actor=brand_user, **scope(grant))


def test_only_brand_members_may_request(narrow_grant, brand):
    with pytest.raises(NotPermitted):
        services.request_license(brand=brand, grant=narrow_grant, actor=UserFactory(), **scope(narrow_grant))


@pytest.mark.parametrize("field, value", [("platforms", ["douyin", "taobao"]), ("max_hours_total", Decimal("101")),
                                          ("ends_at", "later"), ("max_concurrent_streams", 3)])
def test_a_counter_offer_may_only_narrow(field, value, grant, brand, brand_user):
    license = LicenseFactory(grant=grant, brand=brand, requested_by=brand_user)
    if value == "later":
        value = license.ends_at + dt.timedelta(days=1)

    with pytest.raises(ScopeExceedsGrant) as caught:
        services.counter_license(license=license, actor=grant.talent.user, **{field: value})

    assert caught.value.field == field
    license.refresh_from_db()
    assert license.status == License.Status.REQUESTED


def test_a_counter_offer_narrows_scope_and_may_change_the_fee(grant, brand, brand_user):
    license = LicenseFactory(grant=grant, brand=brand, requested_by=brand_user, modalities=["face", "voice"])

    countered = services.counter_license(license=license, actor=grant.talent.user, modalities=["face"],
                                         daily_window_start=dt.time(9), daily_window_end=dt.time(21),
                                         fee_amount=Decimal("12000"))

    assert countered.modalities == ["face"]
    assert countered.fee_amount == Decimal("12000")
    assert countered.daily_window_start == dt.time(9)
    event = AuditEvent.objects.get(action="license.counter")
    assert event.before["modalities"] == ["face", "voice"] and event.after["modalities"] == ["face"]


def test_counter_refuses_fields_that_are_not_terms(grant, brand, brand_user):
    license = LicenseFactory(grant=grant, brand=brand, requested_by=brand_user)

    with pytest.raises(InvalidInput) as caught:
        services.counter_license(license=license, actor=grant.talent.user, brand_id=999)

    assert caught.value.field == "brand_id"
