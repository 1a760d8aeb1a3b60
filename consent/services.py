"""Every change to consent, licenses and likeness goes through here.

Each public function runs in one transaction, checks who may act and which state change is allowed,
writes its audit events (`consent.ledger.record_event`) in that transaction, and enqueues follow-up
work with `transaction.on_commit`. Arguments are keyword-only; errors are `DomainError`s.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from . import selectors, uploads
from .exceptions import ConsentNotActive, IllegalTransition, InvalidInput, NotPermitted, ScopeExceedsGrant
from .ledger import record_event
from .models import (
    Brand, BrandMembership, ConsentGrant, License, LikenessAsset, Modality, Platform, PlatformRole, Talent, Use,
)

logger = logging.getLogger(__name__)

S = License.Status
TERMINAL_STATES = frozenset({S.DECLINED, S.WITHDRAWN, S.REVOKED, S.EXPIRED, S.COMPLETED})
OPEN_STATES = frozenset(set(S.values) - TERMINAL_STATES)

# Parties that may act. "system" is the scheduler (actor=None).
TALENT, BRAND, LEGAL, ADMIN, SYSTEM = "talent", "brand", "legal", "admin", "system"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    parties: frozenset[str]


def _t(sources, target, *parties) -> Transition:
    return Transition(frozenset(sources), target, frozenset(parties))


# The one table of license state changes: action → (from which states, to which state, who may do it).
LICENSE_TRANSITIONS: dict[str, Transition] = {
    "counter": _t({S.REQUESTED}, S.COUNTERED, TALENT),
    "accept_counter": _t({S.COUNTERED}, S.APPROVED, BRAND),
    "approve": _t({S.REQUESTED}, S.APPROVED, TALENT),
    "decline": _t({S.REQUESTED, S.COUNTERED, S.APPROVED}, S.DECLINED, TALENT, LEGAL),
    "withdraw": _t({S.REQUESTED, S.COUNTERED, S.APPROVED, S.COUNTERSIGNED}, S.WITHDRAWN, BRAND),
    "countersign": _t({S.APPROVED}, S.COUNTERSIGNED, LEGAL),
    "activate": _t({S.COUNTERSIGNED}, S.ACTIVE, SYSTEM, LEGAL, ADMIN),
    "suspend": _t({S.ACTIVE}, S.SUSPENDED, LEGAL, ADMIN),
    "reinstate": _t({S.SUSPENDED}, S.ACTIVE, LEGAL, ADMIN),
    "revoke": _t(OPEN_STATES, S.REVOKED, TALENT, LEGAL, ADMIN),
    "expire": _t(OPEN_STATES, S.EXPIRED, SYSTEM),
    "complete": _t({S.ACTIVE, S.SUSPENDED}, S.COMPLETED, BRAND, LEGAL, ADMIN),
}
# Moves that end live rendering: the stream flag's reason code for each.
STOPPING_ACTIONS = {"suspend": "license_suspended", "revoke": "license_revoked", "expire": "license_expired",
                    "complete": "license_completed"}
PARTY_NAMES = {TALENT: "the talent", BRAND: "a member of the brand", LEGAL: "a legal reviewer",
               ADMIN: "a platform admin", SYSTEM: "the scheduler"}

SCOPE_FIELDS = ("modalities", "permitted_uses", "platforms", "product_categories", "territories", "languages")
# License scope field → the grant field it must be a subset of.
GRANT_FIELD_FOR = {"modalities": "modalities", "permitted_uses": "permitted_uses", "platforms": "platforms",
                   "product_categories": "allowed_categories", "territories": "territories",
                   "languages": "languages"}
COUNTER_FIELDS = frozenset({*SCOPE_FIELDS, "starts_at", "ends_at", "max_concurrent_streams", "max_hours_per_day",
                            "max_hours_total", "daily_window_start", "daily_window_end", "fee_amount",
                            "fee_currency", "revenue_share_percent"})
ASSET_MODALITY = {LikenessAsset.Kind.PORTRAIT: Modality.FACE, LikenessAsset.Kind.VOICE: Modality.VOICE}

_TERRITORY = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- Helpers ---------------------------------------------------------------------------------------
def snapshot(obj, *, exclude=()) -> dict:
    """The row's fields as JSON-ready values, for the before/after of an audit event."""
    data = {}
    for f in obj._meta.concrete_fields:
        if f.attname in exclude:
            continue
        value = getattr(obj, f.attname)
        data[f.attname] = value.name if isinstance(value, FieldFile) else value
    return data


def _grant_snapshot(grant: ConsentGrant) -> dict:
    # The document is identified by its hash; its text stays in the grant row.
    return snapshot(grant, exclude={"document_text"})


def _parties(actor, license: License) -> set[str]:
    if actor is None:
        return {SYSTEM}
    roles = selectors.roles_of(actor)
    parties = set()
    if license.talent.user_id == actor.pk:
        parties.add(TALENT)
    if selectors.is_brand_member(actor, license.brand):
        parties.add(BRAND)
    if selectors.ROLE_LEGAL in roles:
        parties.add(LEGAL)
    if selectors.ROLE_ADMIN in roles:
        parties.add(ADMIN)
    return parties


def _require_admin(actor, what: str) -> None:
    if selectors.ROLE_ADMIN not in selectors.roles_of(actor):
        raise NotPermitted(f"Only a platform admin may {what}.")


def _normalise_list(field: str, values, *, pattern: re.Pattern | None = None, choices=None, required=True,
                    transform=str.strip) -> list[str]:
    if isinstance(values, str):
        raise InvalidInput(f"{field}: give a list of values, not one string.", field=field)
    items = sorted({transform(str(v)) for v in (values or ()) if str(v).strip()})
    if required and not items:
        raise InvalidInput(f"{field}: name at least one value.", field=field)
    for item in items:
        if choices is not None and item not in choices:
            raise InvalidInput(f"{field}: {item!r} is not one of {', '.join(sorted(choices))}.", field=field)
        if pattern is not None and not pattern.match(item):
            raise InvalidInput(f"{field}: {item!r} is not well formed.", field=field)
    return items


def _normalise_scope(values: dict, *, shown_as: dict | None = None) -> dict:
    """Validate and normalise scope lists (sorted, deduplicated, canonical case).

    Keys are license field names; `shown_as` renames them in errors (a grant's "allowed_categories").
    """
    rules = {
        "modalities": dict(choices=set(Modality.values)),
        "permitted_uses": dict(choices=set(Use.values)),
        "platforms": dict(choices=set(Platform.values)),
        "product_categories": dict(pattern=_CATEGORY, transform=lambda v: v.strip().lower()),
        "territories": dict(pattern=_TERRITORY, transform=lambda v: v.strip().upper()),
        "languages": dict(pattern=_LANGUAGE),
    }
    shown_as = shown_as or {}
    return {name: _normalise_list(shown_as.get(name, name), value, **rules[name]) for name, value in values.items()}


def _decimal(field: str, value, *, minimum: Decimal, maximum: Decimal | None = None, positive=False) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{field}: {value!r} is not a number.", field=field) from exc
    if not number.is_finite() or number < minimum or (positive and number == 0) or (maximum and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidInput(f"{field}: {number} must be {'above 0 and ' if positive else ''}{bound}.", field=field)
    return number


def _window_minutes(start: dt.time | None, end: dt.time | None) -> set[int]:
    if start is None:
        return set(range(24 * 60))
    a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    return set(range(a, b)) if a <= b else set(range(a, 24 * 60)) | set(range(0, b))


def _validate_terms(values: dict) -> dict:
    """Term, limits and compensation: well formed on their own (the grant is checked separately)."""
    if values["ends_at"] <= values["starts_at"]:
        raise InvalidInput("ends_at must be after starts_at.", field="ends_at")
    if (values.get("daily_window_start") is None) != (values.get("daily_window_end") is None):
        raise InvalidInput("Give both ends of the daily window, or neither.", field="daily_window_end")
    if values.get("daily_window_start") is not None and values["daily_window_start"] == values["daily_window_end"]:
        raise InvalidInput("The daily window must not be empty.", field="daily_window_end")
    streams = values["max_concurrent_streams"]
    if not isinstance(streams, int) or streams < 1:
        raise InvalidInput("max_concurrent_streams must be a whole number, at least 1.", field="max_concurrent_streams")
    values["max_hours_per_day"] = _decimal("max_hours_per_day", values["max_hours_per_day"], minimum=Decimal(0),
                                           maximum=Decimal(24), positive=True)
    values["max_hours_total"] = _decimal("max_hours_total", values["max_hours_total"], minimum=Decimal(0),
                                         positive=True)
    values["fee_amount"] = _decimal("fee_amount", values["fee_amount"], minimum=Decimal(0))
    values["revenue_share_percent"] = _decimal("revenue_share_percent", values["revenue_share_percent"],
                                               minimum=Decimal(0), maximum=Decimal(100))
    values["fee_currency"] = str(values["fee_currency"]).strip().upper()
    if not _CURRENCY.match(values["fee_currency"]):
        raise InvalidInput("fee_currency must be an ISO 4217 code such as CNY.", field="fee_currency")
    return values


def _check_within_grant(grant: ConsentGrant, values: dict) -> None:
    """Raise ScopeExceedsGrant naming the first field that asks for more than the grant gives."""
    for name in SCOPE_FIELDS:
        allowed = set(getattr(grant, GRANT_FIELD_FOR[name]))
        extra = sorted(set(values[name]) - allowed)
        if extra:
            raise ScopeExceedsGrant(
                f"{name}: {', '.join(extra)} not covered by consent grant #{grant.pk} "
                f"(it allows: {', '.join(sorted(allowed)) or 'nothing'}). Remove them or ask the talent for a "
                f"wider consent.", field=name, details={"not_covered": extra})
    excluded = sorted(set(values["product_categories"]) & set(grant.excluded_categories))
    if excluded:
        raise ScopeExceedsGrant(f"product_categories: the talent excluded {', '.join(excluded)}. Remove them.",
                                field="product_categories", details={"not_covered": excluded})
    if values["starts_at"] < grant.valid_from:
        raise ScopeExceedsGrant(f"starts_at: the consent is valid only from {grant.valid_from.isoformat()}.",
                                field="starts_at")
    if values["ends_at"] > grant.valid_until:
        raise ScopeExceedsGrant(f"ends_at: the consent is valid only until {grant.valid_until.isoformat()}.",
                                field="ends_at")


def _require_grant_usable(grant: ConsentGrant, now) -> None:
    if grant.status != ConsentGrant.Status.ACTIVE:
        raise ConsentNotActive(f"Consent grant #{grant.pk} was revoked. The talent must give a new consent first.")
    if grant.valid_until <= now:
        raise ConsentNotActive(f"Consent grant #{grant.pk} expired on {grant.valid_until.isoformat()}. The talent "
                               f"must give a new consent first.")


# --- Talent, brands, roles -------------------------------------------------------------------------
@transaction.atomic
def create_talent(*, user, display_name, legal_name, actor, request_meta=None) -> Talent:
    if actor.pk != user.pk:
        _require_admin(actor, "create a talent profile for someone else")
    if Talent.objects.filter(user=user).exists():
        raise InvalidInput("This user already has a talent profile.", code="already_talent", field="user")
    display_name, legal_name = str(display_name).strip(), str(legal_name).strip()
    if not display_name or not legal_name:
        raise InvalidInput("Give both a display name and a legal name.",
                           field="display_name" if not display_name else "legal_name")
    talent = Talent.objects.create(user=user, display_name=display_name, legal_name=legal_name)
    record_event(action="talent.created", actor=actor, obj=talent, after=snapshot(talent),
                 request_meta=request_meta)
    return talent


@transaction.atomic
def set_talent_verification(*, talent, verification, actor, request_meta=None) -> Talent:
    """Record the outcome of identity verification (legal reviewer or admin)."""
    if not selectors.roles_of(actor) & {selectors.ROLE_LEGAL, selectors.ROLE_ADMIN}:
        raise NotPermitted("Only a legal reviewer or a platform admin may record identity verification.")
    if verification not in Talent.Verification.values:
        raise InvalidInput(f"verification must be one of {', '.join(Talent.Verification.values)}.",
                           field="verification")
    talent = Talent.objects.select_for_update().get(pk=talent.pk)
    before = snapshot(talent)
    talent.verification = verification
    talent.verified_at = timezone.now() if verification == Talent.Verification.VERIFIED else None
    talent.save(update_fields=["verification", "verified_at"])
    record_event(action="talent.verification_set", actor=actor, obj=talent, before=before, after=snapshot(talent),
                 request_meta=request_meta)
    return talent


@transaction.atomic
def create_brand(*, name, slug, owner, actor, request_meta=None) -> Brand:
    if actor.pk != owner.pk:
        _require_admin(actor, "create a brand owned by someone else")
    if Brand.objects.filter(slug=slug).exists():
        raise InvalidInput(f"The slug {slug!r} is taken. Choose another.", code="slug_taken", field="slug")
    brand = Brand.objects.create(name=str(name).strip(), slug=slug)
    record_event(action="brand.created", actor=actor, obj=brand, after=snapshot(brand), request_meta=request_meta)
    membership = BrandMembership.objects.create(brand=brand, user=owner, role=BrandMembership.Role.OWNER)
    record_event(action="brand.member_added", actor=actor, obj=membership, after=snapshot(membership),
                 request_meta=request_meta)
    return brand


@transaction.atomic
def add_brand_member(*, brand, user, role="member", actor, request_meta=None) -> BrandMembership:
    if not selectors.is_brand_member(actor, brand, owner=True):
        _require_admin(actor, "add members to a brand they do not own")
    if role not in BrandMembership.Role.values:
        raise InvalidInput(f"role must be one of {', '.join(BrandMembership.Role.values)}.", field="role")
    if BrandMembership.objects.filter(brand=brand, user=user).exists():
        raise InvalidInput(f"{user} is already a member of {brand}.", code="already_member", field="user")
    membership = BrandMembership.objects.create(brand=brand, user=user, role=role)
    record_event(action="brand.member_added", actor=actor, obj=membership, after=snapshot(membership),
                 request_meta=request_meta)
    return membership


@transaction.atomic
def assign_platform_role(*, user, role, actor, request_meta=None) -> PlatformRole:
    _require_admin(actor, "assign platform roles")
    if role not in PlatformRole.Role.values:
        raise InvalidInput(f"role must be one of {', '.join(PlatformRole.Role.values)}.", field="role")
    platform_role, created = PlatformRole.objects.get_or_create(user=user, role=role)
    if created:
        record_event(action="platform_role.assigned", actor=actor, obj=platform_role, after=snapshot(platform_role),
                     request_meta=request_meta)
    return platform_role


# --- Likeness --------------------------------------------------------------------------------------
@transaction.atomic
def upload_likeness_asset(*, talent, kind, uploaded_file, actor, request_meta=None) -> LikenessAsset:
    """Store a portrait or voice sample after validating it by content. Needs a consent covering it."""
    if actor.pk != talent.user_id:
        raise NotPermitted("Only the talent may upload their own face or voice.")
    if kind not in LikenessAsset.Kind.values:
        raise InvalidInput(f"kind must be one of {', '.join(LikenessAsset.Kind.values)}.", field="kind")
    modality = ASSET_MODALITY[kind]
    # Biometric data may only be collected under a separate consent that covers it (PIPL Art. 28-29).
    if not any(modality in g.modalities for g in selectors.active_grants_for_talent(talent)):
        raise ConsentNotActive(f"There is no active consent covering your {modality}. Give consent first, then "
                               f"upload.", code="no_consent_for_modality")
    media = uploads.validate_image(uploaded_file) if kind == LikenessAsset.Kind.PORTRAIT \
        else uploads.validate_audio(uploaded_file)
    if LikenessAsset.objects.filter(talent=talent, sha256=media.sha256, deleted_at__isnull=True).exists():
        raise InvalidInput("This exact file is already uploaded.", code="duplicate_asset", field="file")
    asset = LikenessAsset(
        talent=talent, kind=kind, sha256=media.sha256, extension=media.extension, content_type=media.content_type,
        size_bytes=len(media.data), width=media.width, height=media.height, duration_seconds=media.duration_seconds,
        uploaded_by=actor,
    )
    asset.file.save(f"{media.sha256}{media.extension}", ContentFile(media.data), save=False)
    stored_name, storage = asset.file.name, asset.file.storage
    try:
        asset.save()
        record_event(action="likeness.uploaded", actor=actor, obj=asset, after=snapshot(asset),
                     request_meta=request_meta)
    except Exception:
        storage.delete(stored_name)  # the row did not make it, so neither may the media
        raise
    return asset


@transaction.atomic
def erase_likeness_asset(*, asset, actor=None, reason: str, request_meta=None) -> LikenessAsset:
    """Delete the media (PIPL Art. 47); the row and the ledger keep its hash. Talent, admin or scheduler."""
    if actor is not None and actor.pk != asset.talent.user_id:
        _require_admin(actor, "erase another person's likeness")
    asset = LikenessAsset.objects.select_for_update().get(pk=asset.pk)
    if asset.is_deleted:
        return asset
    before = snapshot(asset)
    if asset.file:
        name, storage = asset.file.name, asset.file.storage
        transaction.on_commit(lambda: storage.delete(name))
    asset.file = ""
    asset.deleted_at = timezone.now()
    asset.save(update_fields=["file", "deleted_at"])
    record_event(action="likeness.erased", actor=actor, obj=asset, before=before,
                 after=snapshot(asset) | {"reason": reason}, request_meta=request_meta)
    return asset


def erase_likeness_after_revocation(*, grant_id: int, now=None) -> dict:
    """Erase the clones built under a revoked grant, and the talent's assets no other consent covers.

    Run by `consent.tasks.erase_revoked_likeness` after the revocation commits. Idempotent; coverage is
    decided when it runs, so a consent the talent gave in the meantime keeps what it covers.
    """
    from rendering.models import Clone
    from rendering.services import erase_clone

    now = now or timezone.now()
    grant = ConsentGrant.objects.select_related("talent").get(pk=grant_id)
    if grant.status != ConsentGrant.Status.REVOKED:
        raise IllegalTransition(f"Consent grant #{grant.pk} is not revoked; nothing is erased.",
                                from_status=grant.status, action="erase_after_revocation")
    erased_clones, erased_assets = [], []
    for clone in Clone.objects.filter(license__grant=grant).exclude(status=Clone.Status.DELETED):
        with transaction.atomic():
            erase_clone(clone=clone, now=now)
            record_event(action="clone.erased", obj=clone,
                         after={"sha256": clone.sha256, "reason": "consent_revoked", "grant_id": grant.pk})
        erased_clones.append(clone.pk)
    covered = {m for g in selectors.active_grants_for_talent(grant.talent, now) for m in g.modalities}
    for asset in LikenessAsset.objects.filter(talent=grant.talent, deleted_at__isnull=True):
        if ASSET_MODALITY[asset.kind] not in covered:
            erase_likeness_asset(asset=asset, reason=f"consent #{grant.pk} revoked")
            erased_assets.append(asset.pk)
    return {"grant_id": grant.pk, "clones": erased_clones, "assets": erased_assets}


# --- Consent ---------------------------------------------------------------------------------------
@transaction.atomic
def grant_consent(*, talent, actor, document_title, document_version, document_text, modalities, permitted_uses,
                  platforms, allowed_categories, excluded_categories=(), territories, languages, prohibited_topics=(),
                  valid_from, valid_until, evidence_phrase="", evidence_file=None,
                  request_meta=None) -> ConsentGrant:
    """Record a consent the talent gives themselves (separate consent: Deep Synthesis Art. 14, PIPL Art. 29)."""
    if actor.pk != talent.user_id:
        raise NotPermitted("Consent can only be given by the talent, signed in to their own account.")
    if not str(document_text).strip() or not str(document_version).strip() or not str(document_title).strip():
        raise InvalidInput("The consent document needs a title, a version and its full text.", field="document_text")
    now = timezone.now()
    if valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from.", field="valid_until")
    if valid_until <= now:
        raise InvalidInput("valid_until is in the past; choose a future end date.", field="valid_until")
    scope = _normalise_scope({"modalities": modalities, "permitted_uses": permitted_uses, "platforms": platforms,
                              "product_categories": allowed_categories, "territories": territories,
                              "languages": languages}, shown_as={"product_categories": "allowed_categories"})
    excluded = _normalise_list("excluded_categories", excluded_categories, pattern=_CATEGORY, required=False,
                               transform=lambda v: v.strip().lower())
    overlap = sorted(set(excluded) & set(scope["product_categories"]))
    if overlap:
        raise InvalidInput(f"excluded_categories: {', '.join(overlap)} are also allowed; choose one.",
                           field="excluded_categories")
    meta = request_meta or {}
    grant = ConsentGrant(
        talent=talent, document_title=str(document_title).strip(), document_version=str(document_version).strip(),
        document_text=document_text, document_sha256=hashlib.sha256(document_text.encode()).hexdigest(),
        modalities=scope["modalities"], permitted_uses=scope["permitted_uses"], platforms=scope["platforms"],
        allowed_categories=scope["product_categories"], excluded_categories=excluded,
        territories=scope["territories"], languages=scope["languages"],
        prohibited_topics=_normalise_list("prohibited_topics", prohibited_topics, required=False),
        valid_from=valid_from, valid_until=valid_until, evidence_phrase=str(evidence_phrase).strip(),
        given_by=actor, given_at=now, given_ip=meta.get("ip") or None,
        given_user_agent=str(meta.get("user_agent") or "")[:400],
    )
    if evidence_file is not None:
        media = uploads.validate_audio(evidence_file)  # a recorded statement must have sound
        grant.evidence_sha256 = media.sha256
        grant.evidence_file.save(f"{media.sha256}{media.extension}", ContentFile(media.data), save=False)
    try:
        grant.save()
    except IntegrityError:
        if grant.evidence_file:
            grant.evidence_file.storage.delete(grant.evidence_file.name)
        raise
    record_event(action="consent.granted", actor=actor, obj=grant, after=_grant_snapshot(grant),
                 request_meta=request_meta)
    return grant


@transaction.atomic
def revoke_consent(*, grant, actor, reason="", request_meta=None) -> ConsentGrant:
    """Withdraw consent (PIPL Art. 15). Revokes every open license on it, flags their streams to stop,
    and after commit schedules erasure of the clones and assets nothing else covers (Art. 47)."""
    grant = ConsentGrant.objects.select_for_update(of=("self",)).select_related("talent").get(pk=grant.pk)
    if actor.pk != grant.talent.user_id:
        _require_admin(actor, "revoke someone else's consent")
    if grant.status == ConsentGrant.Status.REVOKED:
        raise IllegalTransition(f"Consent grant #{grant.pk} is already revoked. A new consent is a new grant.",
                                from_status=grant.status, action="revoke_consent")
    now = timezone.now()
    before = _grant_snapshot(grant)
    grant.status = ConsentGrant.Status.REVOKED
    grant.revoked_at, grant.revoked_by, grant.revocation_reason = now, actor, str(reason)
    grant.save(update_fields=["status", "revoked_at", "revoked_by", "revocation_reason"])
    detail = f"Consent #{grant.pk} revoked by the talent." if actor.pk == grant.talent.user_id \
        else f"Consent #{grant.pk} revoked."
    revoked = []
    for license in License.objects.select_for_update().filter(grant=grant, status__in=OPEN_STATES):
        _apply(license, "revoke", actor, reason=detail, request_meta=request_meta, now=now, stop_streams=False)
        revoked.append(license.pk)
    flagged = _request_stop(license_ids=revoked, reason_code="consent_revoked",
                                                           detail=detail, now=now)
    record_event(action="consent.revoked", actor=actor, obj=grant, before=before,
                 after=_grant_snapshot(grant) | {"licenses_revoked": revoked, "streams_flagged": flagged},
                 request_meta=request_meta)
    from .tasks import erase_revoked_likeness

    grant_id = grant.pk
    transaction.on_commit(lambda: _enqueue_erasure(erase_revoked_likeness, grant_id))
    return grant


def _enqueue_erasure(task, grant_id: int) -> None:
    # The revocation has committed and must stand even if the broker is down; the periodic
    # sweep (`consent.tasks.sweep_revoked_likeness`) erases what this would have.
    try:
        task.delay(grant_id)
    except Exception:
        logger.exception("Could not enqueue erasure for revoked consent #%s; the sweep will do it.", grant_id)


def revoked_grants_with_media_left() -> list[int]:
    """Revoked grants whose clones, or whose talent's assets, are not all erased yet (for the sweep)."""
    from rendering.models import Clone

    revoked = ConsentGrant.Status.REVOKED
    with_clones = Clone.objects.filter(license__grant__status=revoked).exclude(status=Clone.Status.DELETED) \
        .values_list("license__grant_id", flat=True)
    with_assets = set()
    for grant in ConsentGrant.objects.filter(status=revoked, talent__assets__deleted_at__isnull=True).distinct():
        covered = {m for g in selectors.active_grants_for_talent(grant.talent) for m in g.modalities}
        kinds = LikenessAsset.objects.filter(talent_id=grant.talent_id, deleted_at__isnull=True) \
            .values_list("kind", flat=True)
        if any(ASSET_MODALITY[kind] not in covered for kind in kinds):
            with_assets.add(grant.pk)
    return sorted(set(with_clones) | with_assets)


# --- Licenses --------------------------------------------------------------------------------------
def _authorise(license: License, action: str, actor) -> Transition:
    """Raise unless LICENSE_TRANSITIONS allows `action` from the license's state, by this actor."""
    transition = LICENSE_TRANSITIONS[action]
    if license.status not in transition.sources:
        allowed = ", ".join(sorted(transition.sources))
        raise IllegalTransition(f"Cannot {action.replace('_', ' ')} license #{license.pk}: it is {license.status} "
                                f"(allowed from: {allowed}).", from_status=license.status, action=action)
    if not _parties(actor, license) & transition.parties:
        who = " or ".join(PARTY_NAMES[p] for p in sorted(transition.parties))
        raise NotPermitted(f"Only {who} may {action.replace('_', ' ')} license #{license.pk}.")
    return transition


def _apply(license: License, action: str, actor, *, reason: str = "", request_meta=None, now=None,
           changes: dict | None = None, stop_streams: bool = True) -> License:
    """Check and perform one move of LICENSE_TRANSITIONS on a locked row, with its audit event."""
    transition = _authorise(license, action, actor)
    now = now or timezone.now()
    before = snapshot(license)
    for name, value in (changes or {}).items():
        setattr(license, name, value)
    license.status = transition.target
    license.status_changed_at = now
    license.status_reason = str(reason)
    license.save()
    record_event(action=f"license.{action}", actor=actor, obj=license, before=before, after=snapshot(license),
                 request_meta=request_meta)
    if stop_streams and action in STOPPING_ACTIONS:
        _request_stop(license_ids=[license.pk], reason_code=STOPPING_ACTIONS[action],
                                                     detail=str(reason), now=now)
    return license


def _request_stop(**kwargs) -> list[int]:
    # Imported here: rendering builds on consent, so consent must not import it at module load.
    from rendering.services import request_stop_for_licenses

    return request_stop_for_licenses(**kwargs)


def _locked(license: License) -> License:
    # Only the license row: locking the joined grant too would take locks in the opposite order to
    # revoke_consent (grant, then its licenses) and could deadlock with it.
    return License.objects.select_for_update(of=("self",)).select_related("grant", "talent", "brand") \
        .get(pk=license.pk)


@transaction.atomic
def request_license(*, brand, grant, actor, modalities, permitted_uses, platforms, product_categories, territories,
                    languages, starts_at, ends_at, max_concurrent_streams, max_hours_per_day, max_hours_total,
                    fee_amount=0, fee_currency="CNY", revenue_share_percent=0, daily_window_start=None,
                    daily_window_end=None, request_meta=None) -> License:
    """A brand asks for a license inside a talent's consent; the scope must be a subset of the grant."""
    if not selectors.is_brand_member(actor, brand):
        raise NotPermitted(f"Only members of {brand} may request licenses for it.")
    grant = ConsentGrant.objects.select_for_update().get(pk=grant.pk)
    _require_grant_usable(grant, timezone.now())
    values = _normalise_scope({"modalities": modalities, "permitted_uses": permitted_uses, "platforms": platforms,
                               "product_categories": product_categories, "territories": territories,
                               "languages": languages})
    values.update(starts_at=starts_at, ends_at=ends_at, max_concurrent_streams=max_concurrent_streams,
                  max_hours_per_day=max_hours_per_day, max_hours_total=max_hours_total, fee_amount=fee_amount,
                  fee_currency=fee_currency, revenue_share_percent=revenue_share_percent,
                  daily_window_start=daily_window_start, daily_window_end=daily_window_end)
    values = _validate_terms(values)
    _check_within_grant(grant, values)
    license = License.objects.create(brand=brand, talent_id=grant.talent_id, grant=grant, requested_by=actor,
                                     status=S.REQUESTED, **values)
    record_event(action="license.requested", actor=actor, obj=license, after=snapshot(license),
                 request_meta=request_meta)
    return license


@transaction.atomic
def counter_license(*, license, actor, request_meta=None, **narrower_scope) -> License:
    """The talent answers a request with narrower scope or other compensation; the brand then accepts."""
    unknown = sorted(set(narrower_scope) - COUNTER_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]} cannot be countered. Counter one of: {', '.join(sorted(COUNTER_FIELDS))}.",
                           field=unknown[0])
    if not narrower_scope:
        raise InvalidInput("A counter-offer must change at least one term.")
    license = _locked(license)
    _authorise(license, "counter", actor)
    current = {name: getattr(license, name) for name in COUNTER_FIELDS}
    values = current | narrower_scope
    values.update(_normalise_scope({k: values[k] for k in SCOPE_FIELDS}))
    values = _validate_terms(values)
    for name in SCOPE_FIELDS:
        wider = sorted(set(values[name]) - set(current[name]))
        if wider:
            raise ScopeExceedsGrant(f"{name}: a counter-offer may only narrow the request; {', '.join(wider)} was "
                                    f"not requested.", field=name, details={"not_requested": wider})
    narrowing = {"starts_at": values["starts_at"] < current["starts_at"],
                 "ends_at": values["ends_at"] > current["ends_at"],
                 "max_concurrent_streams": values["max_concurrent_streams"] > current["max_concurrent_streams"],
                 "max_hours_per_day": values["max_hours_per_day"] > current["max_hours_per_day"],
                 "max_hours_total": values["max_hours_total"] > current["max_hours_total"],
                 "daily_window_start": not _window_minutes(values["daily_window_start"], values["daily_window_end"])
                 <= _window_minutes(current["daily_window_start"], current["daily_window_end"])}
    for name, widens in narrowing.items():
        if widens:
            raise ScopeExceedsGrant(f"{name}: a counter-offer may only narrow the requested term and limits.",
                                    field=name)
    _check_within_grant(license.grant, values)
    changes = {name: values[name] for name in COUNTER_FIELDS}
    return _apply(license, "counter", actor, request_meta=request_meta, changes=changes)


@transaction.atomic
def accept_counter(*, license, actor, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "accept_counter", actor)
    _require_grant_usable(license.grant, timezone.now())
    # The counter-offer was the talent's approval of exactly these terms.
    return _apply(license, "accept_counter", actor, request_meta=request_meta,
                  changes={"approved_by_id": license.talent.user_id, "approved_at": timezone.now()})


@transaction.atomic
def approve_license(*, license, actor, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "approve", actor)
    _require_grant_usable(license.grant, timezone.now())
    return _apply(license, "approve", actor, request_meta=request_meta,
                  changes={"approved_by": actor, "approved_at": timezone.now()})


@transaction.atomic
def decline_license(*, license, actor, reason="", request_meta=None) -> License:
    return _apply(_locked(license), "decline", actor, reason=reason, request_meta=request_meta)


@transaction.atomic
def withdraw_license(*, license, actor, request_meta=None) -> License:
    return _apply(_locked(license), "withdraw", actor, request_meta=request_meta)


@transaction.atomic
def countersign_license(*, license, actor, request_meta=None) -> License:
    """Legal countersigns an approved license; it becomes active at once if its term has started."""
    license = _locked(license)
    _authorise(license, "countersign", actor)
    now = timezone.now()
    _require_grant_usable(license.grant, now)
    _require_not_ended(license, now, "countersign", "; it can no longer be countersigned. Decline it.")
    license = _apply(license, "countersign", actor, request_meta=request_meta,
                     changes={"countersigned_by": actor, "countersigned_at": now})
    if license.starts_at <= now:
        license = _apply(license, "activate", actor, request_meta=request_meta, now=now)
    return license


@transaction.atomic
def activate_license(*, license, actor=None, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "activate", actor)
    now = timezone.now()
    if license.starts_at > now:
        raise IllegalTransition(f"License #{license.pk} starts at {license.starts_at.isoformat()}; it is "
                                f"activated then.", code="license_not_started", from_status=license.status,
                                action="activate")
    _require_not_ended(license, now, "activate")
    _require_grant_usable(license.grant, now)
    return _apply(license, "activate", actor, request_meta=request_meta, now=now)


def _require_not_ended(license, now, action: str, what_now: str = ".") -> None:
    if license.ends_at <= now:
        raise IllegalTransition(f"License #{license.pk} ended on {license.ends_at.isoformat()}{what_now}",
                                code="license_ended", from_status=license.status, action=action)


def _require_reason(reason, message: str) -> None:
    if not str(reason).strip():
        raise InvalidInput(message, field="reason")


@transaction.atomic
def suspend_license(*, license, actor, reason, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "suspend", actor)
    _require_reason(reason, "Say why the license is suspended; the brand and the talent will see it.")
    return _apply(license, "suspend", actor, reason=reason, request_meta=request_meta)


@transaction.atomic
def reinstate_license(*, license, actor, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "reinstate", actor)
    now = timezone.now()
    _require_not_ended(license, now, "reinstate", "; it cannot be reinstated.")
    _require_grant_usable(license.grant, now)
    return _apply(license, "reinstate", actor, request_meta=request_meta, now=now)


@transaction.atomic
def revoke_license(*, license, actor, reason, request_meta=None) -> License:
    license = _locked(license)
    _authorise(license, "revoke", actor)
    _require_reason(reason, "Say why the license is revoked; the brand will see it.")
    return _apply(license, "revoke", actor, reason=reason, request_meta=request_meta)


@transaction.atomic
def complete_license(*, license, actor, request_meta=None) -> License:
    return _apply(_locked(license), "complete", actor, request_meta=request_meta)


def expire_licenses(*, now=None) -> list[License]:
    """Expire every open license whose term has ended (periodic task); each in its own transaction."""
    now = now or timezone.now()
    expired = []
    for pk in License.objects.filter(status__in=OPEN_STATES, ends_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            license = License.objects.select_for_update().get(pk=pk)
            if license.status in OPEN_STATES and license.ends_at <= now:
                expired.append(_apply(license, "expire", None, reason="term ended", now=now))
    return expired


def activate_due_licenses(*, now=None) -> list[License]:
    """Activate countersigned licenses whose term has begun (periodic task)."""
    now = now or timezone.now()
    activated = []
    due = License.objects.filter(status=S.COUNTERSIGNED, starts_at__lte=now, ends_at__gt=now,
                                 grant__status=ConsentGrant.Status.ACTIVE, grant__valid_until__gt=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            license = _locked(License(pk=pk))
            if license.status == S.COUNTERSIGNED:
                activated.append(_apply(license, "activate", None, reason="term started", now=now))
    return activated
