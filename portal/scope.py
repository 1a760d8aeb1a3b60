"""Consent and license scopes in plain words, and a license's scope compared with its consent grant."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import formats, timezone

from consent.models import ConsentGrant, License, Modality, Platform, Use

LABELS = {
    "modalities": dict(Modality.choices),
    "permitted_uses": dict(Use.choices),
    "platforms": dict(Platform.choices),
}


def words(field: str, values) -> str:
    """["taobao", "douyin"] → "Taobao Live, Douyin"; an empty list is "none" (never "any")."""
    labels = LABELS.get(field, {})
    return ", ".join(str(labels.get(value, value)) for value in values) or "none"


def day(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "j M Y")


def moment(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "j M Y, H:i")


def last_day(end: dt.datetime) -> str:
    """Terms end at midnight after their last day: show the last day itself."""
    local = timezone.localtime(end)
    if local.time() == dt.time.min:
        local -= dt.timedelta(microseconds=1)
    return formats.date_format(local, "j M Y")


def hours(value) -> str:
    number = Decimal(str(value)).normalize()
    text = f"{number:f}"
    return f"{text} hour" if number == 1 else f"{text} hours"


def money(amount, currency: str) -> str:
    return f"{currency} {Decimal(amount):,.2f}"


def describe_grant(grant: ConsentGrant) -> list[tuple[str, str]]:
    rows = [
        ("Face and voice", words("modalities", grant.modalities)),
        ("Uses", words("permitted_uses", grant.permitted_uses)),
        ("Platforms", words("platforms", grant.platforms)),
        ("Product categories", words("allowed_categories", grant.allowed_categories)),
    ]
    if grant.excluded_categories:
        rows.append(("Never for", words("excluded_categories", grant.excluded_categories)))
    rows += [
        ("Territories", words("territories", grant.territories)),
        ("Languages", words("languages", grant.languages)),
    ]
    if grant.prohibited_topics:
        rows.append(("Never say", words("prohibited_topics", grant.prohibited_topics)))
    rows.append(("Valid", f"{day(grant.valid_from)} to {last_day(grant.valid_until)}"))
    return rows


def window(license: License) -> str:
    if license.daily_window_start is None:
        return "Any time of day"
    return f"Only between {license.daily_window_start:%H:%M} and {license.daily_window_end:%H:%M} each day"


def limits(license: License) -> str:
    streams = "1 stream" if license.max_concurrent_streams == 1 else f"{license.max_concurrent_streams} streams"
    return (f"Up to {hours(license.max_hours_per_day)} a day, {hours(license.max_hours_total)} in total, "
            f"{streams} at a time")


def pay(license: License) -> str:
    text = money(license.fee_amount, license.fee_currency)
    if license.revenue_share_percent:
        text += f" plus {Decimal(license.revenue_share_percent).normalize():f}% of sales"
    return text


def describe_license(license: License) -> list[tuple[str, str]]:
    return [
        ("Face and voice", words("modalities", license.modalities)),
        ("Uses", words("permitted_uses", license.permitted_uses)),
        ("Platforms", words("platforms", license.platforms)),
        ("Product categories", words("product_categories", license.product_categories)),
        ("Territories", words("territories", license.territories)),
        ("Languages", words("languages", license.languages)),
        ("Dates", f"{day(license.starts_at)} to {last_day(license.ends_at)}"),
        ("Hours", window(license)),
        ("Limits", limits(license)),
        ("Pay", pay(license)),
    ]


# License field → the grant field it must stay inside.
GRANT_FIELD_FOR = {
    "modalities": "modalities",
    "permitted_uses": "permitted_uses",
    "platforms": "platforms",
    "product_categories": "allowed_categories",
    "territories": "territories",
    "languages": "languages",
}
DIFF_LABELS = {
    "modalities": "Face and voice", "permitted_uses": "Uses", "platforms": "Platforms",
    "product_categories": "Product categories", "territories": "Territories", "languages": "Languages",
}


@dataclass(frozen=True)
class DiffRow:
    label: str
    requested: str
    consented: str
    not_requested: str  # consented but not asked for: the license is narrower here
    outside: str  # asked for but not consented (the service refuses these; shown if data ever drifts)

    @property
    def status(self) -> str:
        if self.outside:
            return "outside"
        return "narrower" if self.not_requested else "same"


def diff_against_grant(license: License, grant: ConsentGrant) -> list[DiffRow]:
    rows = []
    for field, grant_field in GRANT_FIELD_FOR.items():
        asked, given = list(getattr(license, field)), list(getattr(grant, grant_field))
        rows.append(DiffRow(
            label=DIFF_LABELS[field],
            requested=words(field, asked),
            consented=words(field, given),
            not_requested=words(field, [v for v in given if v not in asked]) if set(given) - set(asked) else "",
            outside=words(field, [v for v in asked if v not in given]) if set(asked) - set(given) else "",
        ))
    excluded = [c for c in license.product_categories if c in grant.excluded_categories]
    if excluded:
        rows.append(DiffRow("Excluded categories", words("product_categories", excluded), "never", "",
                            words("product_categories", excluded)))
    inside = grant.valid_from <= license.starts_at and license.ends_at <= grant.valid_until
    rows.append(DiffRow(
        label="Dates",
        requested=f"{day(license.starts_at)} to {last_day(license.ends_at)}",
        consented=f"{day(grant.valid_from)} to {last_day(grant.valid_until)}",
        not_requested="" if not inside or (grant.valid_from, grant.valid_until) == (license.starts_at, license.ends_at)
        else "shorter than the consent",
        outside="" if inside else "outside the consent's dates",
    ))
    return rows


# Why a stream ended, in plain words: the gate's reasons plus the render loop's own codes.
STREAM_END_WORDS = {
    "completed": "The whole script was rendered.",
    "stopped": "The stream was stopped.",
    "stopped_by_user": "Stopped by the brand.",
    "consent_revoked": "The talent revoked their consent.",
    "license_completed": "The license was marked completed.",
    "clone_erased": "The clone was erased.",
    "render_failed": "Rendering failed; start a new stream.",
}


def end_reason_words(code: str) -> str:
    from consent.policy import REASONS

    return STREAM_END_WORDS.get(code) or REASONS.get(code) or code
