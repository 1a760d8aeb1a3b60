"""License state changes: every move from every state, legal or not, and who may make it."""
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from consent import services
from consent.exceptions import ConsentNotActive, IllegalTransition, InvalidInput, NotPermitted
from consent.models import AuditEvent, License
from consent.services import LICENSE_TRANSITIONS, OPEN_STATES
from tests.factories import ConsentGrantFactory, LicenseFactory, UserFactory

S = License.Status
pytestmark = pytest.mark.django_db

# How each move is made, and by whom (a party the table allows).
MOVES = {
    "counter": ("talent", lambda lic, actor: services.counter_license(license=lic, actor=actor,
                                                                       max_hours_per_day=Decimal("4"))),
    "accept_counter": ("brand", lambda lic, actor: services.accept_counter(license=lic, actor=actor)),
    "approve": ("talent", lambda lic, actor: services.approve_license(license=lic, actor=actor)),
    "decline": ("talent", lambda lic, actor: services.decline_license(license=lic, actor=actor, reason="no")),
    "withdraw": ("brand", lambda lic, actor: services.withdraw_license(license=lic, actor=actor)),
    "countersign": ("legal", lambda lic, actor: services.countersign_license(license=lic, actor=actor)),
    "activate": ("system", lambda lic, actor: services.activate_license(license=lic, actor=actor)),
    "suspend": ("legal", lambda lic, actor: services.suspend_license(license=lic, actor=actor, reason="audit")),
    "reinstate": ("legal", lambda lic, actor: services.reinstate_license(license=lic, actor=actor)),
    "revoke": ("legal", lambda lic, actor: services.revoke_license(license=lic, actor=actor, reason="breach")),
    "complete": ("brand", lambda lic, actor: services.complete_license(license=lic, actor=actor)),
}


@pytest.fixture
def parties(grant, brand, brand_user, legal):
    return {"talent": grant.talent.user, "brand": brand_user, "legal": legal, "system": None}


def license_in(state, grant, brand, brand_user, **extra):
    return LicenseFactory(grant=grant, brand=brand, requested_by=brand_user, status=state, **extra)


def test_every_action_has_a_service_and_expire_runs_on_schedule():
    assert set(MOVES) | {"expire"} == set(LICENSE_TRANSITIONS)


@pytest.mark.parametrize("action", sorted(MOVES))
def test_action_from_every_state(action, parties, grant, brand, brand_user):
    party, move = MOVES[action]
    transition = LICENSE_TRANSITIONS[action]
    for state in S.values:
        license = license_in(state, grant, brand, brand_user)
        if state in transition.sources:
            result = move(license, parties[party])
            # Countersigning a license whose term has begun activates it in the same transaction.
            expected = S.ACTIVE if action == "countersign" else transition.target
            assert result.status == expected, state
            assert AuditEvent.objects.filter(action=f"license.{action}", object_id=str(license.pk)).exists()
        else:
            with pytest.raises(IllegalTransition) as caught:
                move(license, parties[party])
            assert caught.value.code == "illegal_transition"
            assert caught.value.details == {"from_status": state, "action": action}
            license.refresh_from_db()
            assert license.status == state
            assert not AuditEvent.objects.filter(object_id=str(license.pk)).exists()


def test_expire_licenses_ends_every_open_license_whose_term_has_passed(grant, brand, brand_user):
    now = timezone.now()
    ended = {state: license_in(state, grant, brand, brand_user, starts_at=now - dt.timedelta(days=2),
                               ends_at=now - dt.timedelta(seconds=1)) for state in S.values}
    running = license_in(S.ACTIVE, grant, brand, brand_user)

    expired = services.expire_licenses(now=now)

    assert {lic.pk for lic in expired} == {ended[state].pk for state in OPEN_STATES}
    for state, license in ended.items():
        license.refresh_from_db()
        assert license.status == (S.EXPIRED if state in OPEN_STATES else state)
    running.refresh_from_db()
    assert running.status == S.ACTIVE
    assert AuditEvent.objects.filter(action="license.expire", actor_repr="system").count() == len(OPEN_STATES)


WRONG_PARTY = [("counter", "brand"), ("accept_counter", "talent"), ("approve", "brand"), ("approve", "legal"),
               ("decline", "brand"), ("withdraw", "talent"), ("countersign", "talent"), ("countersign", "brand"),
               ("activate", "brand"), ("suspend", "brand"), ("suspend", "talent"), ("reinstate", "brand"),
               ("revoke", "brand"), ("complete", "talent"), ("approve", "stranger")]


@pytest.mark.parametrize("action, party", WRONG_PARTY)
def test_only_the_parties_in_the_table_may_act(action, party, parties, grant, brand, brand_user):
    parties["stranger"] = UserFactory()
    source = sorted(LICENSE_TRANSITIONS[action].sources)[0]
    license = license_in(source, grant, brand, brand_user)

    with pytest.raises(NotPermitted):
        MOVES[action][1](license, parties[party])

    license.refresh_from_db()
    assert license.status == source


def test_countersigned_license_waits_for_its_start_then_activates(grant, brand, brand_user, legal):
    start = timezone.now() + dt.timedelta(days=1)
    license = license_in(S.APPROVED, grant, brand, brand_user, starts_at=start, ends_at=start + dt.timedelta(days=5))

    license = services.countersign_license(license=license, actor=legal)
    assert license.status == S.COUNTERSIGNED
    assert license.countersigned_by == legal

    with pytest.raises(IllegalTransition) as caught:
        services.activate_license(license=license)
    assert caught.value.code == "license_not_started"

    assert services.activate_due_licenses(now=start - dt.timedelta(seconds=1)) == []
    activated = services.activate_due_licenses(now=start + dt.timedelta(seconds=1))
    assert [lic.pk for lic in activated] == [license.pk]
    license.refresh_from_db()
    assert license.status == S.ACTIVE


def test_full_negotiation_through_a_counter_offer(grant, brand, brand_user, legal):
    license = license_in(S.REQUESTED, grant, brand, brand_user)

    license = services.counter_license(license=license, actor=grant.talent.user, max_concurrent_streams=1,
                                       fee_amount=Decimal("9000"))
    assert (license.status, license.max_concurrent_streams, license.fee_amount) == (S.COUNTERED, 1, Decimal("9000"))
    license = services.accept_counter(license=license, actor=brand_user)
    assert license.status == S.APPROVED and license.approved_by == grant.talent.user
    license = services.countersign_license(license=license, actor=legal)
    assert license.status == S.ACTIVE
    actions = list(AuditEvent.objects.filter(object_id=str(license.pk), object_type="consent.license")
                   .values_list("action", flat=True))
    assert actions == ["license.counter", "license.accept_counter", "license.countersign", "license.activate"]


def test_approval_needs_the_consent_to_still_stand(brand, brand_user):
    grant = ConsentGrantFactory(status="revoked", revoked_at=timezone.now())
    license = license_in(S.REQUESTED, grant, brand, brand_user)

    with pytest.raises(ConsentNotActive):
        services.approve_license(license=license, actor=grant.talent.user)


def test_suspend_and_revoke_flag_running_streams(active_license, legal):
    from tests.consent.helpers import make_stream

    stream = make_stream(active_license, status="running")

    services.suspend_license(license=active_license, actor=legal, reason="complaint under review")

    stream.refresh_from_db()
    assert stream.stop_requested_at is not None and stream.end_reason == "license_suspended"


@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_suspending_or_revoking_needs_a_reason(action, active_license, legal):
    service = {"suspend": services.suspend_license, "revoke": services.revoke_license}[action]

    with pytest.raises(InvalidInput) as caught:
        service(license=active_license, actor=legal, reason="  ")

    assert caught.value.field == "reason"


def test_the_state_is_checked_before_the_terms_of_a_counter_offer(active_license):
    with pytest.raises(IllegalTransition):
        services.counter_license(license=active_license, actor=active_license.talent.user, platforms=["jd"])
