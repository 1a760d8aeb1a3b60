"""The audit ledger: chained, signed, append-only; tampering is found, bundles verify offline."""
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from consent import ledger
from consent.exceptions import AppendOnlyViolation
from consent.ledger_verify import GENESIS_HASH
from consent.models import AuditEvent

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def append(n, **extra):
    return [ledger.record_event(action="test.event", object_type="test.thing", object_id=i,
                                after={"n": i, "text": "同意 ✓", **extra}) for i in range(n)]


def raw_sql(sql, params=()):
    """Run SQL the way an intruder with database access would, past the model's guards.

    On PostgreSQL the append-only trigger must first be switched off, as a superuser can.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE consent_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE consent_auditevent ENABLE TRIGGER USER")


def test_events_form_a_signed_chain():
    events = append(3)

    assert events[0].sequence == 1 and events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[0].key_id == ledger.key_id()
    assert ledger.verify_chain().ok
    call_command("verify_ledger", stdout=open(os.devnull, "w"))


def test_the_key_is_made_once_and_readable_only_by_its_owner(settings):
    append(1)
    mode = stat.S_IMODE(os.stat(settings.LEDGER_SIGNING_KEY_PATH).st_mode)

    assert mode == 0o600


def test_a_row_edited_by_raw_sql_is_found_by_verify_ledger():
    events = append(4)
    raw_sql("UPDATE consent_auditevent SET after = %s WHERE sequence = 3", [json.dumps({"n": 99})])

    with pytest.raises(CommandError) as caught:
        call_command("verify_ledger")

    assert "event #3" in str(caught.value)
    assert "altered" in str(caught.value)
    assert ledger.verify_chain().bad_sequence == events[2].sequence


def test_a_row_deleted_by_raw_sql_is_found():
    append(4)
    raw_sql("DELETE FROM consent_auditevent WHERE sequence = 2")

    report = ledger.verify_chain()

    assert not report.ok and report.bad_sequence == 3 and "missing" in report.problem


def test_a_rehashed_row_without_the_key_fails_its_signature():
    events = append(2)
    forged = {**ledger.event_body(events[1]), "after": {"n": 1, "text": "forged"}}
    from consent.ledger_verify import event_hash

    raw_sql("UPDATE consent_auditevent SET after = %s, hash = %s WHERE sequence = 2",
            [json.dumps(forged["after"]), event_hash(forged)])

    report = ledger.verify_chain()
    assert report.bad_sequence == 2 and "signature" in report.problem


def test_the_model_refuses_update_and_delete():
    event = append(1)[0]
    event.action = "changed"

    with pytest.raises(AppendOnlyViolation):
        event.save()
    with pytest.raises(AppendOnlyViolation):
        event.delete()
    with pytest.raises(AppendOnlyViolation):
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
    with pytest.raises(AppendOnlyViolation):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@postgres_only
@pytest.mark.postgres
@pytest.mark.parametrize("sql", ["UPDATE consent_auditevent SET action = 'x'", "DELETE FROM consent_auditevent",
                                 "TRUNCATE consent_auditevent"])
def test_the_database_rejects_changes_to_the_ledger(sql):
    append(1)

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            # Test databases allow TRUNCATE for flushing (tests/conftest.py); production sessions do not.
            cursor.execute("SET LOCAL consentframe.ledger_maintenance = 'off'")
            cursor.execute(sql)
    assert AuditEvent.objects.count() == 1


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_threads_keep_one_chain(settings):
    threads, per_thread, errors = 6, 8, []
    barrier = threading.Barrier(threads)

    def writer(k):
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    ledger.record_event(action="test.concurrent", object_type="test.thing", object_id=f"{k}-{i}")
        except Exception as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == []
    sequences = list(AuditEvent.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, threads * per_thread + 1))
    assert ledger.verify_chain().ok


# --- Export and offline verification ------------------------------------------------------------
def run_offline_verifier(bundle):
    """Run the bundle's own verifier in a fresh interpreter in which Django cannot be imported."""
    code = ("import runpy, sys; sys.modules['django'] = None; sys.argv = ['ledger_verify.py', sys.argv[1]]; "
            "runpy.run_path(sys.argv[1] + '/ledger_verify.py', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, str(bundle)], capture_output=True, text=True, timeout=60)


def test_an_exported_bundle_verifies_without_django(tmp_path):
    append(5)
    bundle = tmp_path / "bundle"

    call_command("export_ledger", str(bundle), stdout=open(os.devnull, "w"))

    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        ["events.jsonl", "manifest.json", "manifest.sig", "ledger_verify.py",
         f"ledger-public-key-{ledger.key_id()[:16]}.pem"])
    result = run_offline_verifier(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 5 events")


def test_an_edited_bundle_fails_offline_naming_the_event(tmp_path):
    append(3)
    bundle = tmp_path / "bundle"
    manifest = ledger.export_bundle(bundle)
    lines = (bundle / "events.jsonl").read_text().splitlines()
    event = json.loads(lines[1])
    event["after"]["n"] = 42
    lines[1] = json.dumps(event)
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")

    assert run_offline_verifier(bundle).returncode == 1  # the signed manifest no longer matches the file

    # Even with the manifest rewritten to match, the key that signs it is not the intruder's.
    import hashlib

    manifest["events_sha256"] = hashlib.sha256((bundle / "events.jsonl").read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    other_key = Ed25519PrivateKey.generate()
    (bundle / "manifest.sig").write_text(other_key.sign((bundle / "manifest.json").read_bytes()).hex())
    result = run_offline_verifier(bundle)
    assert result.returncode == 1 and "manifest signature" in result.stdout

    # And with a valid manifest signature, the event itself is named.
    (bundle / "manifest.sig").write_text(ledger.signing_key().sign((bundle / "manifest.json").read_bytes()).hex())
    result = run_offline_verifier(bundle)
    assert result.returncode == 1 and "event #2" in result.stdout


def test_export_refuses_a_broken_chain_and_a_used_folder(tmp_path):
    append(2)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_ledger", str(tmp_path / "used"))

    raw_sql("UPDATE consent_auditevent SET actor_repr = 'someone else' WHERE sequence = 1")
    with pytest.raises(CommandError, match="event #1"):
        call_command("export_ledger", str(tmp_path / "new"))


def test_actors_are_recorded_by_id_and_name(brand_user):
    from django.contrib.auth.models import AnonymousUser

    by_user = ledger.record_event(action="test.event", actor=brand_user, object_type="t", object_id=1)
    by_visitor = ledger.record_event(action="test.event", actor=AnonymousUser(), object_type="t", object_id=2)
    by_scheduler = ledger.record_event(action="test.event", object_type="t", object_id=3)

    assert (by_user.actor_id, by_user.actor_repr) == (brand_user.pk, brand_user.username)
    assert (by_visitor.actor_id, by_visitor.actor_repr) == (None, "anonymous")
    assert (by_scheduler.actor_id, by_scheduler.actor_repr) == (None, "system")


def test_numbers_the_database_rewrites_still_verify():
    # PostgreSQL's jsonb returns 1e16 as 10000000000000000 and -0.0 as 0.0; the hash must not depend on it.
    for value in (1e16, 1.5e300, -0.0, 1e-7, 0.1, 5.0, 123456789.123456789, 2**70):
        ledger.record_event(action="test.number", object_type="t", object_id=1, after={"x": value, "l": [value]})

    assert ledger.verify_chain().ok


@pytest.fixture
def fresh_checkpoint():
    from django.core.cache import cache

    cache.delete(ledger.CHECKPOINT_CACHE_KEY)
    yield
    cache.delete(ledger.CHECKPOINT_CACHE_KEY)


def test_chain_status_reads_only_the_events_since_its_last_check(fresh_checkpoint, monkeypatch):
    append(3)
    assert ledger.chain_status().checked == 3
    append(2)
    read = []
    real = ledger.exported_event
    monkeypatch.setattr(ledger, "exported_event", lambda event: read.append(event.sequence) or real(event))

    report = ledger.chain_status()

    assert report.ok and report.checked == 5 and report.head_hash == AuditEvent.objects.get(sequence=5).hash
    assert read == [4, 5]


def test_chain_status_finds_a_new_event_that_was_altered(fresh_checkpoint):
    append(3)
    ledger.chain_status()
    append(2)
    raw_sql("UPDATE consent_auditevent SET after = %s WHERE sequence = 5", [json.dumps({"n": 99})])

    report = ledger.chain_status()

    assert not report.ok and report.bad_sequence == 5


def test_chain_status_rechecks_everything_when_the_checkpoint_changed_or_is_old(fresh_checkpoint, settings):
    from django.utils import timezone

    append(4)
    start = timezone.now()
    ledger.chain_status(now=start)
    raw_sql("UPDATE consent_auditevent SET after = %s WHERE sequence = 2", [json.dumps({"n": 99})])
    later = start + dt.timedelta(seconds=settings.LEDGER_FULL_CHECK_SECONDS + 1)
    assert ledger.chain_status(now=later).bad_sequence == 2  # the hourly full check finds an old edit

    # Repaired, it reads intact again: a broken chain leaves no checkpoint, so that was a full check.
    raw_sql("UPDATE consent_auditevent SET after = %s WHERE sequence = 2", [json.dumps({"n": 1, "text": "同意 ✓"})])
    assert ledger.chain_status(now=later).ok
    raw_sql("UPDATE consent_auditevent SET hash = %s WHERE sequence = 4", ["0" * 64])
    assert ledger.chain_status(now=later).bad_sequence == 4  # the checkpoint event itself: at once
