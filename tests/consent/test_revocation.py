"""Withdrawing consent: licenses revoked and streams flagged at once; media erased after commit."""
import pytest
from django.core.files.storage import default_storage

from config.celery import app as celery_app
from consent import services
from consent.exceptions import IllegalTransition, NotPermitted
from consent.models import AuditEvent, ConsentGrant, License, LikenessAsset
from rendering.models import Clone, Stream
from tests.consent.helpers import make_clone, make_stream
from tests.factories import ActiveLicenseFactory, ConsentGrantFactory, LicenseFactory, LikenessAssetFactory, voice_wav

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(talent, grant, brand, brand_user):
    active = ActiveLicenseFactory(grant=grant, brand=brand, requested_by=brand_user)
    return {
        "active": active,
        "requested": LicenseFactory(grant=grant, brand=brand, requested_by=brand_user),
        "withdrawn": LicenseFactory(grant=grant, brand=brand, requested_by=brand_user, status="withdrawn"),
        "running": make_stream(active, status=Stream.Status.RUNNING),
        "queued": make_stream(active, status=Stream.Status.QUEUED),
        "finished": make_stream(active, status=Stream.Status.COMPLETED),
        "portrait": LikenessAssetFactory(talent=talent),
        "voice": LikenessAssetFactory(talent=talent, kind=LikenessAsset.Kind.VOICE, data=voice_wav()),
    }


def test_revoking_consent_revokes_licenses_and_flags_live_streams_in_one_transaction(
        world, grant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        revoked = services.revoke_consent(grant=grant, actor=grant.talent.user, reason="I changed my mind",
                                          request_meta={"ip": "203.0.113.5"})

    assert revoked.status == ConsentGrant.Status.REVOKED and revoked.revoked_at is not None
    statuses = dict(License.objects.values_list("pk", "status"))
    assert statuses[world["active"].pk] == "revoked"
    assert statuses[world["requested"].pk] == "revoked"
    assert statuses[world["withdrawn"].pk] == "withdrawn"
    for name in ("running", "queued"):
        world[name].refresh_from_db()
        assert world[name].stop_requested_at is not None
        assert world[name].end_reason == "consent_revoked"
    world["finished"].refresh_from_db()
    assert world["finished"].stop_requested_at is None
    event = AuditEvent.objects.get(action="consent.revoked")
    assert sorted(event.after["licenses_revoked"]) == sorted([world["active"].pk, world["requested"].pk])
    assert sorted(event.after["streams_flagged"]) == sorted([world["running"].pk, world["queued"].pk])
    assert event.request_meta == {"ip": "203.0.113.5"}
    # Erasure waits for the commit: nothing was deleted yet, one task is scheduled.
    assert len(callbacks) == 1
    assert not LikenessAsset.objects.filter(deleted_at__isnull=False).exists()
    assert not Clone.objects.filter(status=Clone.Status.DELETED).exists()


def test_after_commit_media_only_this_consent_covered_is_erased_and_hashes_remain(
        world, talent, grant, django_capture_on_commit_callbacks, eager_celery):
    ConsentGrantFactory(talent=talent, modalities=["voice"])  # still covers the voice sample
    clone = make_clone(world["active"], asset=world["portrait"])
    portrait_name, clone_file = world["portrait"].file.name, clone.portrait.name
    assert default_storage.exists(portrait_name) and default_storage.exists(clone_file)

    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_consent(grant=grant, actor=grant.talent.user)

    portrait, voice = (LikenessAsset.objects.get(pk=world[k].pk) for k in ("portrait", "voice"))
    assert portrait.is_deleted and not portrait.file and portrait.sha256 == world["portrait"].sha256
    assert not default_storage.exists(portrait_name)
    assert not voice.is_deleted and default_storage.exists(voice.file.name)
    clone.refresh_from_db()
    assert clone.status == Clone.Status.DELETED and not default_storage.exists(clone_file)
    erased = AuditEvent.objects.get(action="likeness.erased", object_id=str(portrait.pk))
    assert erased.after["sha256"] == portrait.sha256 and erased.before["file"] == portrait_name
    assert not AuditEvent.objects.filter(action="likeness.erased", object_id=str(voice.pk)).exists()
    assert AuditEvent.objects.get(action="clone.erased", object_id=str(clone.pk)).after["sha256"] == clone.sha256


def test_erasure_can_run_twice(world, grant, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_consent(grant=grant, actor=grant.talent.user)

    again = services.erase_likeness_after_revocation(grant_id=grant.pk)

    assert again["assets"] == [] and again["clones"] == []
    assert AuditEvent.objects.filter(action="likeness.erased").count() == LikenessAsset.objects.count()


def test_erasure_runs_on_the_default_queue_not_the_gpu_one():
    route = celery_app.amqp.router.route({}, "consent.tasks.erase_revoked_likeness")
    assert route["queue"].name != "gpu"


def test_a_revoked_consent_stays_revoked(grant):
    services.revoke_consent(grant=grant, actor=grant.talent.user)

    with pytest.raises(IllegalTransition):
        services.revoke_consent(grant=grant, actor=grant.talent.user)


def test_only_the_talent_or_an_admin_may_revoke(grant, brand_user, admin_user):
    with pytest.raises(NotPermitted):
        services.revoke_consent(grant=grant, actor=brand_user)

    assert services.revoke_consent(grant=grant, actor=admin_user, reason="written request").status == "revoked"


def test_when_the_broker_is_down_the_revocation_stands_and_the_sweep_erases(
        world, grant, django_capture_on_commit_callbacks, monkeypatch):
    from consent import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.erase_revoked_likeness, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_consent(grant=grant, actor=grant.talent.user)
    assert LikenessAsset.objects.filter(deleted_at__isnull=True).exists()
    assert services.revoked_grants_with_media_left() == [grant.pk]

    tasks.sweep_revoked_likeness()

    assert not LikenessAsset.objects.filter(deleted_at__isnull=True).exists()
    assert not Clone.objects.exclude(status=Clone.Status.DELETED).exists()
    assert services.revoked_grants_with_media_left() == []


def test_the_sweep_leaves_media_another_consent_covers(talent, grant):
    LikenessAssetFactory(talent=talent)
    ConsentGrantFactory(talent=talent, modalities=["face"])
    grant.status, grant.revoked_at = "revoked", grant.given_at
    grant.save()

    assert services.revoked_grants_with_media_left() == []


def test_periodic_consent_tasks_are_scheduled_and_registered():
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}

    assert {"consent.tasks.activate_due_licenses", "consent.tasks.expire_licenses",
            "consent.tasks.sweep_revoked_likeness"} <= scheduled
    celery_app.loader.import_default_modules()
    assert scheduled <= set(celery_app.tasks)
