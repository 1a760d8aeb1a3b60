"""The one policy module for roles and object permissions in the portal and the API.

Every page and endpoint asks here: which rows a user may see (`*_visible_to`) and what they may do
to one of them (`can_*`). Rows a user may not see are reported as missing (404) by the callers, so
that nobody learns that another tenant's license or stream exists; an action refused on a visible
row is a 403.

Who sees what:
- a talent: their own grants, the licenses on their likeness, and every clone, stream and segment
  made under those licenses;
- a brand member: the licenses of their brands and what was made under them, and the active
  consent grants on offer (scope only) so that they can ask for a license;
- legal reviewers and platform admins: everything, read-only except for the legal actions.
"""
from __future__ import annotations

from django.db.models import QuerySet

from consent import selectors as consent_selectors
from consent.services import ADMIN as PARTY_ADMIN
from consent.services import BRAND as PARTY_BRAND
from consent.services import LEGAL as PARTY_LEGAL
from consent.services import TALENT as PARTY_TALENT
from consent.models import AuditEvent, Brand, ConsentGrant, License, Talent
from rendering.models import Clone, Segment, Stream

ROLE_TALENT = consent_selectors.ROLE_TALENT
ROLE_BRAND = consent_selectors.ROLE_BRAND_MEMBER
ROLE_LEGAL = consent_selectors.ROLE_LEGAL
ROLE_ADMIN = consent_selectors.ROLE_ADMIN
STAFF_ROLES = frozenset({ROLE_LEGAL, ROLE_ADMIN})


def roles_of(user) -> frozenset[str]:
    """The roles of a user (see consent.selectors.roles_of), cached on the user object per request."""
    if user is None or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = user._portal_roles = frozenset(consent_selectors.roles_of(user))
    return cached


def is_staff_reader(user) -> bool:
    return bool(roles_of(user) & STAFF_ROLES)


def talent_of(user) -> Talent | None:
    if not user.is_authenticated:
        return None
    return Talent.objects.filter(user=user).first()


def brands_of(user) -> QuerySet[Brand]:
    if not user.is_authenticated:
        return Brand.objects.none()
    return Brand.objects.filter(memberships__user=user)


# --- Visibility: the rows a user may read -------------------------------------------------------


def licenses_visible_to(user) -> QuerySet[License]:
    if not user.is_authenticated:
        return License.objects.none()
    return consent_selectors.licenses_for_user(user)


def grants_visible_to(user) -> QuerySet[ConsentGrant]:
    """Full consent records: the talent's own, or all for staff. Brands use `grants_on_offer`."""
    if not user.is_authenticated:
        return ConsentGrant.objects.none()
    if is_staff_reader(user):
        return ConsentGrant.objects.all()
    return ConsentGrant.objects.filter(talent__user=user)


def grants_on_offer(user) -> QuerySet[ConsentGrant]:
    """Active grants a brand member may request a license under (their scope, not their evidence)."""
    if not (user.is_authenticated and (ROLE_BRAND in roles_of(user) or is_staff_reader(user))):
        return ConsentGrant.objects.none()
    return ConsentGrant.objects.filter(status=ConsentGrant.Status.ACTIVE).select_related("talent")


def clones_visible_to(user) -> QuerySet[Clone]:
    if not user.is_authenticated:
        return Clone.objects.none()
    if is_staff_reader(user):
        return Clone.objects.all()
    return Clone.objects.filter(license__in=licenses_visible_to(user).values("id"))


def streams_visible_to(user) -> QuerySet[Stream]:
    if not user.is_authenticated:
        return Stream.objects.none()
    if is_staff_reader(user):
        return Stream.objects.all()
    return Stream.objects.filter(license__in=licenses_visible_to(user).values("id"))


def segments_visible_to(user) -> QuerySet[Segment]:
    if not user.is_authenticated:
        return Segment.objects.none()
    if is_staff_reader(user):
        return Segment.objects.all()
    return Segment.objects.filter(stream__license__in=licenses_visible_to(user).values("id"))


def ledger_visible_to(user) -> QuerySet[AuditEvent]:
    if is_staff_reader(user):
        return AuditEvent.objects.all()
    return AuditEvent.objects.none()


# --- Actions on a visible row -------------------------------------------------------------------


def is_member_of(user, brand_id: int) -> bool:
    return user.is_authenticated and user.brand_memberships.filter(brand_id=brand_id).exists()


def is_talent_of_license(user, license: License) -> bool:
    return user.is_authenticated and license.talent.user_id == user.pk


def can_revoke_grant(user, grant: ConsentGrant) -> bool:
    # Only the person whose likeness it is withdraws their consent (PIPL Art. 15).
    return user.is_authenticated and grant.talent.user_id == user.pk


def license_parties(user, license: License) -> frozenset[str]:
    """The user's parts in a license, named as in consent.services.LICENSE_TRANSITIONS (which says who
    may make each move): the pages and the API offer a move only to its parties."""
    if not user.is_authenticated:
        return frozenset()
    roles = roles_of(user)
    parties = set()
    if is_talent_of_license(user, license):
        parties.add(PARTY_TALENT)
    if is_member_of(user, license.brand_id):
        parties.add(PARTY_BRAND)
    if ROLE_LEGAL in roles:
        parties.add(PARTY_LEGAL)
    if ROLE_ADMIN in roles:
        parties.add(PARTY_ADMIN)
    return frozenset(parties)


def can_act_for_brand(user, license: License) -> bool:
    """Create clones and start streams under the license."""
    return is_member_of(user, license.brand_id)


def can_stop_stream(user, stream: Stream) -> bool:
    # The brand running it; the talent stops streams by revoking, legal by suspending the license.
    return is_member_of(user, stream.license.brand_id)


def can_see_provenance_owner(user, stream: Stream) -> bool:
    """Verifier results name the stream, license and talent only to people who may see that stream."""
    return streams_visible_to(user).filter(pk=stream.pk).exists()


def can_read_ledger(user) -> bool:
    return is_staff_reader(user)
