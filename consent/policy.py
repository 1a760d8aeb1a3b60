"""The license gate: a pure function from facts to a decision. No database, no clock, no side effects.

`evaluate` collects every failing reason (not just the first), so that a brand sees all it must fix
and a legal reviewer sees why something was refused. It fails closed: a missing fact, or any
exception while deciding, is a denial.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from .models import ConsentGrant, License, Use

# Every reason the gate can give, with the message shown when it applies. Codes are stable API.
REASONS: dict[str, str] = {
    "missing_fact": "A fact needed for the decision is missing, so the request is refused.",
    "gate_error": "The gate could not evaluate the request, so it is refused. Try again or contact support.",
    "license_not_found": "No such license.",
    "invalid_request": "The request itself is not valid.",
    "grant_mismatch": "The license is not built on this consent grant.",
    "license_not_active": "The license is not active.",
    "license_suspended": "The license is suspended; a legal reviewer must reinstate it.",
    "license_revoked": "The license has been revoked.",
    "license_expired": "The license has expired.",
    "license_not_started": "The license term has not started yet.",
    "license_ended": "The license term has ended.",
    "outside_daily_window": "Rendering is outside the license's daily time window.",
    "consent_revoked": "The talent has revoked this consent.",
    "consent_not_yet_valid": "The consent grant is not valid yet.",
    "consent_expired": "The consent grant has expired.",
    "use_not_licensed": "The license does not cover this use.",
    "use_not_consented": "The talent did not consent to this use.",
    "modality_not_licensed": "The license does not cover this modality.",
    "modality_not_consented": "The talent did not consent to this modality.",
    "platform_not_licensed": "The license does not cover this platform.",
    "platform_not_consented": "The talent did not consent to this platform.",
    "category_not_licensed": "The license does not cover this product category.",
    "category_not_consented": "The talent did not consent to this product category.",
    "category_excluded": "The talent excluded this product category.",
    "territory_not_licensed": "The license does not cover this territory.",
    "territory_not_consented": "The talent did not consent to this territory.",
    "language_not_licensed": "The license does not cover this language.",
    "language_not_consented": "The talent did not consent to this language.",
    "prohibited_topic": "The script contains a phrase the talent prohibited.",
    "daily_limit_exceeded": "This would exceed the license's rendered hours per day.",
    "total_limit_exceeded": "This would exceed the license's total rendered hours.",
    "concurrency_limit_exceeded": "The license's maximum number of concurrent streams is already running.",
}

RENDERING_USES = frozenset({Use.LIVE_RENDERING, Use.RECORDED_VIDEO})
# Scope checks: (request attribute, license field, grant field, noun, code stem). Order = order of reasons.
_SCOPE_CHECKS = (
    ("platform", "platforms", "platforms", "platform", "platform"),
    ("product_category", "product_categories", "allowed_categories", "product category", "category"),
    ("territory", "territories", "territories", "territory", "territory"),
    ("language", "languages", "languages", "language", "language"),
)
_LICENSE_STATUS_REASONS = {
    License.Status.SUSPENDED: "license_suspended",
    License.Status.REVOKED: "license_revoked",
    License.Status.EXPIRED: "license_expired",
}


@dataclass(frozen=True)
class UseRequest:
    use: str  # consent.models.Use value
    modalities: frozenset[str]  # {"face"} or {"face", "voice"}
    platform: str | None = None
    product_category: str | None = None
    territory: str | None = None
    language: str | None = None
    script_text: str = ""
    seconds: float = 0.0  # media this request would add (one segment)
    stream_id: int | None = None  # the stream asking (not counted against concurrency)


@dataclass(frozen=True)
class Usage:
    seconds_today: float
    seconds_total: float
    concurrent_streams: int  # other running streams on the license


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "reasons": [{"code": r.code, "message": r.message} for r in self.reasons]}

    @classmethod
    def deny(cls, code: str, detail: str = "") -> "Decision":
        return cls(False, (reason(code, detail),))


def reason(code: str, detail: str = "") -> Reason:
    message = REASONS[code]
    return Reason(code, f"{message} {detail}".strip())


def normalise_text(text: str) -> str:
    """Case- and spacing-insensitive form used to match prohibited phrases."""
    return re.sub(r"\s+", " ", text.casefold()).strip()


def evaluate(*, license: License | Any, grant: ConsentGrant | Any, request: UseRequest | None,
             usage: Usage | None, now) -> Decision:
    """Decide whether `request` may go ahead under `license` and its `grant` at `now`."""
    try:
        reasons = _evaluate(license, grant, request, usage, now)
    except Exception as exc:  # fail closed: an unexpected fact shape is a denial, never an allowance
        return Decision.deny("gate_error", f"({type(exc).__name__})")
    return Decision(allowed=not reasons, reasons=tuple(reasons))


def _evaluate(license, grant, request, usage, now) -> list[Reason]:
    missing = [name for name, value in (("license", license), ("grant", grant), ("request", request),
                                        ("now", now)) if value is None]
    if missing:
        return [reason("missing_fact", f"Missing: {', '.join(missing)}.")]
    if request.use not in Use.values:
        return [reason("invalid_request", f"Unknown use {request.use!r}.")]
    if not request.modalities:
        return [reason("invalid_request", "Name at least one modality (face, voice).")]
    rendering = request.use in RENDERING_USES
    if rendering:
        needed = ["platform", "product_category", "territory", "language"]
        absent = [name for name in needed if not getattr(request, name)]
        if usage is None:
            absent.append("usage")
        if absent:
            return [reason("missing_fact", f"A render request needs: {', '.join(absent)}.")]
        if request.seconds < 0:
            return [reason("invalid_request", "seconds must not be negative.")]

    reasons: list[Reason] = []
    if license.grant_id != grant.pk:
        reasons.append(reason("grant_mismatch", f"License #{license.pk} is built on grant #{license.grant_id}, "
                                                f"not #{grant.pk}."))
    # The license itself.
    if license.status != License.Status.ACTIVE:
        code = _LICENSE_STATUS_REASONS.get(license.status, "license_not_active")
        reasons.append(reason(code, f"Status: {license.status}."))
    if now < license.starts_at:
        reasons.append(reason("license_not_started", f"It starts at {license.starts_at.isoformat()}."))
    if now >= license.ends_at:
        reasons.append(reason("license_ended", f"It ended at {license.ends_at.isoformat()}."))
    if rendering and license.daily_window_start is not None and license.daily_window_end is not None:
        local = timezone.localtime(now).time()
        start, end = license.daily_window_start, license.daily_window_end
        inside = start <= local < end if start <= end else (local >= start or local < end)  # window may span midnight
        if not inside:
            reasons.append(reason("outside_daily_window", f"Allowed from {start:%H:%M} to {end:%H:%M}."))
    # The consent under it.
    if grant.status != ConsentGrant.Status.ACTIVE:
        reasons.append(reason("consent_revoked"))
    if now < grant.valid_from:
        reasons.append(reason("consent_not_yet_valid", f"Valid from {grant.valid_from.isoformat()}."))
    if now >= grant.valid_until:
        reasons.append(reason("consent_expired", f"Valid until {grant.valid_until.isoformat()}."))
    # Scope: checked against the license and, independently, against the consent itself.
    if request.use not in license.permitted_uses:
        reasons.append(reason("use_not_licensed", f"Use: {request.use}."))
    if request.use not in grant.permitted_uses:
        reasons.append(reason("use_not_consented", f"Use: {request.use}."))
    for modality in sorted(request.modalities):
        if modality not in license.modalities:
            reasons.append(reason("modality_not_licensed", f"Modality: {modality}."))
        if modality not in grant.modalities:
            reasons.append(reason("modality_not_consented", f"Modality: {modality}."))
    for attr, license_field, grant_field, noun, stem in _SCOPE_CHECKS:
        value = getattr(request, attr)
        if value is None:  # only possible for clone creation, which is not tied to one platform or market
            continue
        if value not in getattr(license, license_field):
            reasons.append(reason(f"{stem}_not_licensed", f"{noun.capitalize()}: {value}."))
        if value not in getattr(grant, grant_field):
            reasons.append(reason(f"{stem}_not_consented", f"{noun.capitalize()}: {value}."))
        if attr == "product_category" and value in grant.excluded_categories:
            reasons.append(reason("category_excluded", f"Product category: {value}."))
    script = normalise_text(request.script_text or "")
    for phrase in grant.prohibited_topics:
        if normalise_text(phrase) and normalise_text(phrase) in script:
            reasons.append(reason("prohibited_topic", f"Phrase: {phrase!r}. Remove it from the script."))
    # Usage limits.
    if rendering:
        per_day = float(license.max_hours_per_day) * 3600
        total = float(license.max_hours_total) * 3600
        if usage.seconds_today + request.seconds > per_day:
            reasons.append(reason("daily_limit_exceeded", f"{usage.seconds_today:.0f} s rendered today of "
                                                          f"{per_day:.0f} s allowed."))
        if usage.seconds_total + request.seconds > total:
            reasons.append(reason("total_limit_exceeded", f"{usage.seconds_total:.0f} s rendered of "
                                                          f"{total:.0f} s allowed."))
        if usage.concurrent_streams >= license.max_concurrent_streams:
            reasons.append(reason("concurrency_limit_exceeded", f"{usage.concurrent_streams} other streams "
                                                                f"running, {license.max_concurrent_streams} "
                                                                f"allowed."))
    return reasons
