"""Giving consent, and setting up the parties: only the right people, every change in the ledger."""
import datetime as dt
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consent import selectors, services
from consent.exceptions import InvalidInput, InvalidUpload, NotPermitted
from consent.models import AuditEvent, ConsentGrant
from tests.factories import TalentFactory, UserFactory, portrait_png, voice_wav

pytestmark = pytest.mark.django_db


def consent_terms(**changes):
    now = timezone.now()
    terms = dict(document_title="Clone consent", document_version="3", document_text="I agree to … 同意",
                 modalities=["voice", "face", "face"], permitted_uses=["live_rendering"], platforms=["douyin"],
                 allowed_categories=[" Cosmetics "], excluded_categories=["alcohol"], territories=["cn"],
                 languages=["zh-CN"], prohibited_topics=["  guaranteed cure ", ""], valid_from=now,
                 valid_until=now + dt.timedelta(days=90), evidence_phrase="RED-FOX-19")
    terms.update(changes)
    return terms


def test_the_talent_gives_consent_and_the_ledger_holds_its_document_hash(talent):
    grant = services.grant_consent(talent=talent, actor=talent.user, **consent_terms(),
                                   request_meta={"ip": "203.0.113.9", "user_agent": "Firefox"})

    assert grant.status == ConsentGrant.Status.ACTIVE
    assert grant.modalities == ["face", "voice"] and grant.allowed_categories == ["cosmetics"]
    assert grant.territories == ["CN"] and grant.prohibited_topics == ["guaranteed cure"]
    assert grant.document_sha256 == hashlib.sha256("I agree to … 同意".encode()).hexdigest()
    assert (grant.given_by, grant.given_ip, grant.given_user_agent) == (talent.user, "203.0.113.9", "Firefox")
    event = AuditEvent.objects.get(action="consent.granted")
    assert event.after["document_sha256"] == grant.document_sha256 and "document_text" not in event.after
    assert event.request_meta == {"ip": "203.0.113.9", "user_agent": "Firefox"}


def test_consent_can_only_be_given_by_the_talent(talent):
    for someone_else in (UserFactory(), TalentFactory().user):
        with pytest.raises(NotPermitted):
            services.grant_consent(talent=talent, actor=someone_else, **consent_terms())
    assert not ConsentGrant.objects.exists()


@pytest.mark.parametrize("field, value", [("modalities", []), ("permitted_uses", ["deepfake"]),
                                          ("allowed_categories", ["Beauty & Care"]), ("languages", ["chinese!"]),
                                          ("excluded_categories", ["cosmetics"]),
                                          ("valid_until", timezone.now() - dt.timedelta(days=1))])
def test_bad_consent_terms_name_the_field(field, value, talent):
    with pytest.raises(InvalidInput) as caught:
        services.grant_consent(talent=talent, actor=talent.user, **consent_terms(**{field: value}))

    assert caught.value.field == field


def test_a_recorded_statement_is_kept_with_its_hash(talent):
    statement = voice_wav(seconds=2.0)
    grant = services.grant_consent(talent=talent, actor=talent.user, **consent_terms(),
                                   evidence_file=SimpleUploadedFile("statement.wav", statement))

    assert grant.evidence_sha256 == hashlib.sha256(statement).hexdigest()
    assert grant.evidence_file.read() == statement


def test_a_statement_that_is_not_a_recording_is_refused(talent):
    with pytest.raises(InvalidUpload):
        services.grant_consent(talent=talent, actor=talent.user, **consent_terms(),
                               evidence_file=SimpleUploadedFile("statement.wav", portrait_png()))
    assert not ConsentGrant.objects.exists()


def test_parties_and_roles(admin_user):
    person, rep, lawyer = UserFactory(), UserFactory(), UserFactory()

    talent = services.create_talent(user=person, display_name="Mei", legal_name="Mei Synthetic", actor=person)
    brand = services.create_brand(name="Acme", slug="acme", owner=rep, actor=rep)
    services.assign_platform_role(user=lawyer, role="legal_reviewer", actor=admin_user)
    services.set_talent_verification(talent=talent, verification="verified", actor=lawyer)

    assert selectors.roles_of(person) == {"talent"}
    assert selectors.roles_of(rep) == {"brand_member"}
    assert selectors.roles_of(lawyer) == {"legal_reviewer"}
    assert selectors.is_brand_member(rep, brand, owner=True)
    talent.refresh_from_db()
    assert talent.verification == "verified" and talent.verified_at is not None
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [
        "talent.created", "brand.created", "brand.member_added", "platform_role.assigned",
        "talent.verification_set"]


def test_role_changes_need_authority(brand, brand_user):
    stranger = UserFactory()

    with pytest.raises(NotPermitted):
        services.assign_platform_role(user=stranger, role="platform_admin", actor=stranger)
    with pytest.raises(NotPermitted):
        services.add_brand_member(brand=brand, user=stranger, actor=stranger)
    with pytest.raises(NotPermitted):
        services.set_talent_verification(talent=TalentFactory(), verification="verified", actor=brand_user)
    membership = services.add_brand_member(brand=brand, user=stranger, actor=brand_user)
    assert membership.role == "member"
    with pytest.raises(InvalidInput):
        services.add_brand_member(brand=brand, user=stranger, actor=brand_user)
