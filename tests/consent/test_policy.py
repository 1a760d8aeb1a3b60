"""The policy gate, table-driven: each case changes one fact and must yield exactly one reason code."""
import dataclasses
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from consent import selectors
from consent.policy import REASONS, Usage, UseRequest, evaluate

NOW = timezone.make_aware(dt.datetime(2026, 11, 26, 12, 0))  # noon in settings.TIME_ZONE


def facts(license=None, grant=None, request=None, usage=None):
    lic = SimpleNamespace(
        pk=1, grant_id=10, status="active", starts_at=NOW - dt.timedelta(days=1), ends_at=NOW + dt.timedelta(days=1),
        daily_window_start=None, daily_window_end=None, permitted_uses=["clone_creation", "live_rendering"],
        modalities=["face", "voice"], platforms=["douyin"], product_categories=["cosmetics"], territories=["CN"],
        languages=["zh-CN"], max_hours_per_day=Decimal("1"), max_hours_total=Decimal("10"), max_concurrent_streams=1,
    )
    grn = SimpleNamespace(
        pk=10, status="active", valid_from=NOW - dt.timedelta(days=2), valid_until=NOW + dt.timedelta(days=2),
        permitted_uses=["clone_creation", "live_rendering", "recorded_video"], modalities=["face", "voice"],
        platforms=["douyin", "taobao"], allowed_categories=["cosmetics", "apparel"], excluded_categories=["alcohol"],
        territories=["CN", "HK"], languages=["zh-CN", "en-US"], prohibited_topics=["guaranteed cure"],
    )
    req = UseRequest(use="live_rendering", modalities=frozenset({"face"}), platform="douyin",
                     product_category="cosmetics", territory="CN", language="zh-CN", script_text="新品上市, welcome!",
                     seconds=2.0)
    use = Usage(seconds_today=0.0, seconds_total=0.0, concurrent_streams=0)
    for target, changes in ((lic, license), (grn, grant)):
        for name, value in (changes or {}).items():
            setattr(target, name, value)
    req = dataclasses.replace(req, **(request or {}))
    use = dataclasses.replace(use, **usage) if isinstance(usage, dict) else (use if usage is None else usage)
    return {"license": lic, "grant": grn, "request": req, "usage": use, "now": NOW}


def with_none(name, **changes):
    f = facts(**changes)
    f[name] = None
    return f


# (expected code, facts). Exactly this one reason must be given, and the request denied.
CASES = [
    ("missing_fact", with_none("license")),
    ("missing_fact", with_none("grant")),
    ("missing_fact", with_none("now")),
    ("missing_fact", with_none("usage")),  # a render request without usage is not counted, so refused
    ("missing_fact", facts(request={"platform": None})),
    ("gate_error", facts(license={"starts_at": None})),
    ("invalid_request", facts(request={"use": "karaoke"})),
    ("invalid_request", facts(request={"modalities": frozenset()})),
    ("grant_mismatch", facts(license={"grant_id": 11})),
    ("license_not_active", facts(license={"status": "countersigned"})),
    ("license_suspended", facts(license={"status": "suspended"})),
    ("license_revoked", facts(license={"status": "revoked"})),
    ("license_expired", facts(license={"status": "expired"})),
    ("license_not_started", facts(license={"starts_at": NOW + dt.timedelta(minutes=1)})),
    ("license_ended", facts(license={"ends_at": NOW})),
    ("outside_daily_window", facts(license={"daily_window_start": dt.time(1), "daily_window_end": dt.time(2)})),
    ("consent_revoked", facts(grant={"status": "revoked"})),
    ("consent_not_yet_valid", facts(grant={"valid_from": NOW + dt.timedelta(minutes=1)})),
    ("consent_expired", facts(grant={"valid_until": NOW})),
    ("use_not_licensed", facts(license={"permitted_uses": ["clone_creation"]})),
    ("use_not_consented", facts(grant={"permitted_uses": ["clone_creation"]})),
    ("modality_not_licensed", facts(license={"modalities": ["voice"]})),
    ("modality_not_consented", facts(grant={"modalities": ["voice"]})),
    ("platform_not_licensed", facts(request={"platform": "taobao"})),
    ("platform_not_consented", facts(grant={"platforms": ["taobao"]})),
    ("category_not_licensed", facts(request={"product_category": "apparel"})),
    ("category_not_consented", facts(grant={"allowed_categories": ["apparel"]})),
    ("category_excluded", facts(grant={"excluded_categories": ["cosmetics"]})),
    ("territory_not_licensed", facts(request={"territory": "HK"})),
    ("territory_not_consented", facts(grant={"territories": ["HK"]})),
    ("language_not_licensed", facts(request={"language": "en-US"})),
    ("language_not_consented", facts(grant={"languages": ["en-US"]})),
    ("prohibited_topic", facts(request={"script_text": "This serum is a GUARANTEED\n  Cure for wrinkles"})),
    ("daily_limit_exceeded", facts(usage={"seconds_today": 3599.0, "seconds_total": 3599.0})),
    ("total_limit_exceeded", facts(usage={"seconds_total": 35_999.0})),
    ("concurrency_limit_exceeded", facts(usage={"concurrent_streams": 1})),
]
# Reached only through check_gate, which loads the facts (tested below).
DB_ONLY_CODES = {"license_not_found"}


def test_the_table_covers_every_reason_code():
    assert {code for code, _ in CASES} | DB_ONLY_CODES == set(REASONS)


@pytest.mark.parametrize("code, given", CASES, ids=[f"{code}-{i}" for i, (code, _) in enumerate(CASES)])
def test_each_failing_fact_denies_with_its_reason(code, given):
    decision = evaluate(**given)

    assert not decision.allowed
    assert decision.codes == (code,)
    assert decision.reasons[0].message.startswith(REASONS[code])


def test_a_request_inside_license_and_consent_is_allowed():
    decision = evaluate(**facts())

    assert decision.allowed
    assert decision.as_dict() == {"allowed": True, "reasons": []}


def test_every_failing_reason_is_reported_not_just_the_first():
    decision = evaluate(**facts(license={"status": "suspended"}, request={"platform": "kuaishou",
                                                                           "script_text": "guaranteed cure"}))

    assert decision.codes == ("license_suspended", "platform_not_licensed", "platform_not_consented",
                              "prohibited_topic")
    assert [r["code"] for r in decision.as_dict()["reasons"]] == list(decision.codes)


def test_clone_creation_needs_no_market_facts_or_usage():
    given = facts(request={"use": "clone_creation", "platform": None, "product_category": None, "territory": None,
                           "language": None, "seconds": 0.0})
    given["usage"] = None

    assert evaluate(**given).allowed


@pytest.mark.parametrize("hour, allowed", [(23, True), (1, True), (3, False), (12, False)])
def test_daily_window_may_span_midnight(hour, allowed):
    given = facts(license={"daily_window_start": dt.time(22), "daily_window_end": dt.time(2)})
    given["now"] = NOW.replace(hour=hour)

    assert evaluate(**given).allowed is allowed


def test_the_segment_that_reaches_the_daily_limit_exactly_is_allowed():
    assert evaluate(**facts(usage={"seconds_today": 3598.0})).allowed


@pytest.mark.django_db
def test_check_gate_denies_an_unknown_license():
    decision = selectors.check_gate(license_id=987654, request=facts()["request"])

    assert decision.codes == ("license_not_found",)


@pytest.mark.django_db
def test_check_gate_turns_a_failure_while_loading_facts_into_a_denial(active_license, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(selectors, "license_usage", broken)

    decision = selectors.check_gate(license_id=active_license.pk, request=facts()["request"])

    assert decision.codes == ("gate_error",)


@pytest.mark.django_db
def test_check_gate_reads_fresh_facts_and_counts_other_running_streams(active_license):
    from tests.consent.helpers import make_stream

    request = facts()["request"]
    assert selectors.check_gate(license_id=active_license.pk, request=request).allowed

    stream = make_stream(active_license, status="running")
    mine = dataclasses.replace(request, stream_id=stream.pk)
    other = dataclasses.replace(request, stream_id=None)
    active_license.max_concurrent_streams = 1
    active_license.save(update_fields=["max_concurrent_streams"])

    assert selectors.check_gate(license_id=active_license.pk, request=mine).allowed
    assert selectors.check_gate(license_id=active_license.pk, request=other).codes == ("concurrency_limit_exceeded",)


@pytest.mark.django_db
def test_license_usage_counts_rendered_segments_today_and_in_total(active_license):
    from rendering.models import Segment
    from tests.consent.helpers import make_stream

    stream = make_stream(active_license, status="running")
    for seq, start in enumerate((0.0, 2.0, 4.0)):
        Segment.objects.create(stream=stream, sequence=seq, start_seconds=start, end_seconds=start + 2.0,
                               frame_count=50, file=f"segments/{seq}.mp4", sha256="0" * 64, manifest_id="m",
                               watermark_payload="00")
    Segment.objects.filter(sequence=0).update(created_at=timezone.now() - dt.timedelta(days=2))

    usage = selectors.license_usage(active_license)

    assert (usage.seconds_today, usage.seconds_total, usage.concurrent_streams) == (4.0, 6.0, 1)
    assert selectors.license_usage(active_license, exclude_stream_id=stream.pk).concurrent_streams == 0
