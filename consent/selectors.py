"""Reads that more than one caller needs: roles, the gate with its facts, usage, lists, ledger queries."""
from __future__ import annotations

import datetime as dt

from django.db.models import F, Q, Sum
from django.utils import timezone

from .models import AuditEvent, BrandMembership, ConsentGrant, License, PlatformRole, Talent
from .policy import Decision, Usage, UseRequest, evaluate

ROLE_TALENT = "talent"
ROLE_BRAND_MEMBER = "brand_member"
ROLE_LEGAL = PlatformRole.Role.LEGAL_REVIEWER.value
ROLE_ADMIN = PlatformRole.Role.PLATFORM_ADMIN.value


def roles_of(user) -> set[str]:
    """{"talent", "brand_member", "legal_reviewer", "platform_admin"} as they apply; a superuser is an admin."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    roles = set(PlatformRole.objects.filter(user=user).values_list("role", flat=True))
    if user.is_superuser:
        roles.add(ROLE_ADMIN)
    if Talent.objects.filter(user=user).exists():
        roles.add(ROLE_TALENT)
    if BrandMembership.objects.filter(user=user).exists():
        roles.add(ROLE_BRAND_MEMBER)
    return roles


def is_brand_member(user, brand, *, owner: bool = False) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    memberships = BrandMembership.objects.filter(user=user, brand=brand)
    if owner:
        memberships = memberships.filter(role=BrandMembership.Role.OWNER)
    return memberships.exists()


def license_usage(license: License, now=None, *, exclude_stream_id: int | None = None) -> Usage:
    """Seconds rendered today (local day of TIME_ZONE) and in total, and the other running streams."""
    from rendering.models import Segment, Stream  # rendering depends on consent, not the reverse

    now = now or timezone.now()
    local_midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    segments = Segment.objects.filter(stream__license=license)
    seconds = F("end_seconds") - F("start_seconds")
    totals = segments.aggregate(total=Sum(seconds), today=Sum(seconds, filter=Q(created_at__gte=local_midnight)))
    running = Stream.objects.filter(license=license, status=Stream.Status.RUNNING)
    if exclude_stream_id is not None:
        running = running.exclude(pk=exclude_stream_id)
    return Usage(seconds_today=float(totals["today"] or 0.0), seconds_total=float(totals["total"] or 0.0),
                 concurrent_streams=running.count())


def check_gate(*, license_id: int, request: UseRequest, now=None) -> Decision:
    """Load the facts fresh from the database and ask the policy gate. Never raises: errors deny."""
    now = now or timezone.now()
    try:
        license = License.objects.select_related("grant").filter(pk=license_id).first()
        if license is None:
            return Decision.deny("license_not_found", f"License #{license_id}.")
        usage = license_usage(license, now, exclude_stream_id=request.stream_id)
        return evaluate(license=license, grant=license.grant, request=request, usage=usage, now=now)
    except Exception as exc:  # fail closed
        return Decision.deny("gate_error", f"({type(exc).__name__})")


def licenses_for_user(user):
    """Licenses the user may see: their own as talent, their brands', all for legal and admins."""
    roles = roles_of(user)
    qs = License.objects.select_related("brand", "talent", "grant")
    if roles & {ROLE_LEGAL, ROLE_ADMIN}:
        return qs
    return qs.filter(Q(talent__user=user) | Q(brand__memberships__user=user)).distinct()


def grants_for_talent(talent: Talent):
    return ConsentGrant.objects.filter(talent=talent).order_by("-given_at")


def active_grants_for_talent(talent: Talent, now=None):
    """Grants that still cover processing now or later: not revoked and not yet expired."""
    now = now or timezone.now()
    return grants_for_talent(talent).filter(status=ConsentGrant.Status.ACTIVE, valid_until__gt=now)


def pending_licenses_for_talent(talent: Talent):
    return License.objects.filter(talent=talent, status__in=[License.Status.REQUESTED]).select_related("brand")


def licenses_awaiting_countersignature():
    return License.objects.filter(status=License.Status.APPROVED).select_related("brand", "talent")


def ledger_events(*, object_type: str | None = None, object_id: str | int | None = None,
                  action: str | None = None, actor_id: int | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None):
    qs = AuditEvent.objects.all()
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id is not None:
        qs = qs.filter(object_id=str(object_id))
    if action:
        qs = qs.filter(action=action)
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs.order_by("sequence")


def events_for_object(obj):
    return ledger_events(object_type=obj._meta.label_lower, object_id=obj.pk)
