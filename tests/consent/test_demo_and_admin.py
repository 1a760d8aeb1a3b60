"""The demo command and the admin registrations."""
import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import RequestFactory

from consent import ledger
from consent.demo import seed_demo_world
from consent.models import AuditEvent, Brand, BrandMembership, ConsentGrant, License, LikenessAsset, PlatformRole, Talent

pytestmark = pytest.mark.django_db


def test_demo_runs_twice_and_shows_both_decisions(settings):
    first, second = io.StringIO(), io.StringIO()

    call_command("demo", "--no-render", stdout=first, no_color=True)
    events_after_first = AuditEvent.objects.count()
    call_command("demo", "--no-render", stdout=second, no_color=True)

    for out in (first.getvalue(), second.getvalue()):
        assert "→ ALLOWED" in out
        assert "→ DENIED" in out and "platform_not_licensed" in out and "prohibited_topic" in out
        assert "Ledger OK" in out
    assert AuditEvent.objects.count() == events_after_first  # the second run found what the first made
    assert (Talent.objects.count(), Brand.objects.count(), License.objects.count()) == (1, 1, 1)

    world = seed_demo_world()  # as the rendering demo reuses it
    assert world.license.status == License.Status.ACTIVE
    assert world.license.grant == world.grant and world.grant.talent == world.talent
    assert {world.portrait.kind, world.voice.kind} == {"portrait", "voice"}
    assert world.legal.platform_roles.filter(role=PlatformRole.Role.LEGAL_REVIEWER).exists()


def test_every_consent_model_is_in_the_admin():
    for model in (PlatformRole, Talent, Brand, BrandMembership, LikenessAsset, ConsentGrant, License, AuditEvent):
        assert admin.site.is_registered(model), model


def test_the_ledger_is_read_only_in_the_admin(admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site._registry[AuditEvent]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)
    assert model_admin.list_filter and model_admin.search_fields


def test_the_ledger_changelist_filters_and_searches(client, admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    ledger.record_event(action="license.countersign", object_type="consent.license", object_id=1)
    ledger.record_event(action="license.activate", object_type="consent.license", object_id=1)
    client.force_login(admin_user)

    response = client.get("/admin/consent/auditevent/", {"q": "license", "action": "license.countersign"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert b"license.countersign" in response.content
