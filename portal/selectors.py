"""Reads the portal and the API share: stream progress, usage reports, the filtered ledger timeline.

They take querysets already limited by `portal.permissions`, so they never widen what a user sees.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from consent import selectors as consent_selectors
from consent.models import AuditEvent, ConsentGrant, License, LikenessAsset
from rendering.models import Clone, Segment, Stream


def with_progress(streams: QuerySet[Stream]) -> QuerySet[Stream]:
    """Annotate segments_done and seconds_rendered (published segments only)."""
    return streams.annotate(
        segments_done=Count("segments"),
        seconds_rendered=Coalesce(
            Sum(F("segments__end_seconds") - F("segments__start_seconds"), output_field=FloatField()),
            Value(0.0),
        ),
    )


def hours_by_platform(license_ids) -> dict[int, dict[str, float]]:
    """license id → {platform: hours rendered}, from published segments."""
    rows = (
        Segment.objects.filter(stream__license_id__in=list(license_ids))
        .values("stream__license_id", "stream__platform")
        .annotate(seconds=Sum(F("end_seconds") - F("start_seconds"), output_field=FloatField()))
    )
    result: dict[int, dict[str, float]] = defaultdict(dict)
    for row in rows:
        result[row["stream__license_id"]][row["stream__platform"]] = (row["seconds"] or 0.0) / 3600
    return result


def license_report(license: License, now=None) -> dict:
    """Usage and cost of one license: what the brand pays for and what the talent earns from."""
    now = now or timezone.now()
    usage = consent_selectors.license_usage(license, now)
    hours_total = usage.seconds_total / 3600
    counts = Stream.objects.filter(license=license).aggregate(streams=Count("id", distinct=True),
                                                              segments=Count("segments"))
    fee_per_hour = None
    if hours_total > 0:
        fee_per_hour = (license.fee_amount / Decimal(str(hours_total))).quantize(Decimal("0.01"))
    return {
        "license": license.pk,
        "seconds_today": usage.seconds_today,
        "seconds_total": usage.seconds_total,
        "hours_total": hours_total,
        "max_hours_total": license.max_hours_total,
        "max_hours_per_day": license.max_hours_per_day,
        "concurrent_streams": usage.concurrent_streams,
        "streams": counts["streams"],
        "segments": counts["segments"],
        "hours_by_platform": hours_by_platform([license.pk]).get(license.pk, {}),
        "fee_amount": license.fee_amount,
        "fee_currency": license.fee_currency,
        "revenue_share_percent": license.revenue_share_percent,
        "fee_per_hour": fee_per_hour,
    }


def talent_uses(talent) -> list[dict]:
    """Every license on a talent's likeness with the hours, platforms and earnings it produced."""
    licenses = list(
        License.objects.filter(talent=talent).select_related("brand")
        .annotate(stream_count=Count("streams", distinct=True))
        .order_by("-requested_at")
    )
    hours = hours_by_platform(lic.pk for lic in licenses)
    return [
        {
            "license": lic,
            "streams": lic.stream_count,
            "hours_by_platform": hours.get(lic.pk, {}),
            "hours_total": sum(hours.get(lic.pk, {}).values()),
            # The fixed fee is earned once the license has been countersigned; revenue share is
            # reported by the brand's platform and shown as a rate.
            "fee_earned": lic.fee_amount if lic.countersigned_at else Decimal("0"),
        }
        for lic in licenses
    ]


def _objects(object_type: str, ids) -> Q:
    return Q(object_type=object_type, object_id__in=[str(i) for i in ids])


def _license_family(license_ids: list[int]) -> Q:
    """Events on these licenses and on the clones and streams made under them."""
    return (
        _objects("consent.license", license_ids)
        | _objects("rendering.clone", Clone.objects.filter(license_id__in=license_ids).values_list("id", flat=True))
        | _objects("rendering.stream", Stream.objects.filter(license_id__in=license_ids).values_list("id", flat=True))
    )


def ledger_timeline(events: QuerySet[AuditEvent], *, talent_id=None, brand_id=None, license_id=None,
                    action: str = "", since: dt.date | None = None, until: dt.date | None = None):
    """The ledger filtered by who and what it concerns, newest first.

    A talent's events cover the talent, their grants, assets and licenses and what was made under
    them; a brand's cover the brand and its licenses and what was made under them.
    """
    if license_id:
        events = events.filter(_license_family([int(license_id)]))
    if talent_id:
        license_ids = list(License.objects.filter(talent_id=talent_id).values_list("id", flat=True))
        events = events.filter(
            _objects("consent.talent", [talent_id])
            | _objects("consent.consentgrant", ConsentGrant.objects.filter(talent_id=talent_id).values_list("id", flat=True))
            | _objects("consent.likenessasset", LikenessAsset.objects.filter(talent_id=talent_id).values_list("id", flat=True))
            | _license_family(license_ids)
        )
    if brand_id:
        license_ids = list(License.objects.filter(brand_id=brand_id).values_list("id", flat=True))
        events = events.filter(_objects("consent.brand", [brand_id]) | _license_family(license_ids))
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(occurred_at__gte=timezone.make_aware(dt.datetime.combine(since, dt.time.min)))
    if until:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min)
        events = events.filter(occurred_at__lt=timezone.make_aware(end))
    return events.order_by("-sequence")
