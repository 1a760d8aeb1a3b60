"""The tamper-evident audit ledger: a sha256 hash chain of events, each signed with Ed25519.

`record_event` is called by every service inside its own transaction, so an event exists if and only
if the change it describes committed. Appends are serialised (an advisory lock on PostgreSQL; SQLite
opens every transaction IMMEDIATE, which already serialises writers), so the chain never forks.
The hashing and the checks themselves live in `consent.ledger_verify`, which has no Django in it and
is shipped inside every exported bundle.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from . import ledger_verify
from .ledger_verify import GENESIS_HASH, ChainReport, canonical_json, event_hash, key_id_of
from .models import AuditEvent

# Any constant works; it only has to be the same for every writer of this database.
ADVISORY_LOCK_KEY = 0x4C454447  # "LEDG"
SYSTEM_ACTOR = "system"  # the scheduler and other work no person started
ANONYMOUS_ACTOR = "anonymous"  # a visitor who is not signed in (e.g. the public verifier)

_key_lock = threading.Lock()
_key_cache: dict[Path, Ed25519PrivateKey] = {}


# --- Keys ------------------------------------------------------------------------------------------
def signing_key() -> Ed25519PrivateKey:
    """The platform's ledger key from settings.LEDGER_SIGNING_KEY_PATH; created (mode 0600) on first use."""
    path = Path(settings.LEDGER_SIGNING_KEY_PATH)
    with _key_lock:
        if path not in _key_cache:
            _key_cache[path] = _load_or_create_key(path)
        return _key_cache[path]


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            # O_EXCL: when two processes start at once, exactly one key is written and both use it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_pem() -> bytes:
    return public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id() -> str:
    return key_id_of(public_key())


# --- Appending -------------------------------------------------------------------------------------
def to_json_value(value):
    """What a JSONField gives back after a round trip: dates as ISO text, decimals as strings.

    Numbers are put in the form PostgreSQL's jsonb returns them, so that the hash of the stored
    event matches the hash computed before storing it.
    """
    if value is None:
        return None
    return _jsonb_numbers(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _jsonb_numbers(value):
    if isinstance(value, float):
        if value == 0:
            return 0.0  # jsonb has no negative zero
        if "e+" in repr(value):
            return int(value)  # jsonb prints 1e+16 as 10000000000000000, which reads back as an int
        return value
    if isinstance(value, dict):
        return {key: _jsonb_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_numbers(item) for item in value]
    return value


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def event_body(event: AuditEvent) -> dict:
    """The hashed fields of a stored event, as they were hashed when it was appended."""
    return {
        "sequence": event.sequence,
        "occurred_at": format_time(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_repr": event.actor_repr,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "request_meta": event.request_meta,
        "prev_hash": event.prev_hash,
        "key_id": event.key_id,
    }


def exported_event(event: AuditEvent) -> dict:
    return {**event_body(event), "hash": event.hash, "signature": event.signature}


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    # SQLite: the enclosing transaction began IMMEDIATE (settings), so this process holds the write lock.


def _clean_request_meta(request_meta: dict | None) -> dict:
    meta = {}
    for name in ("ip", "user_agent"):
        value = (request_meta or {}).get(name)
        if value:
            meta[name] = str(value)[:400]
    return meta


def record_event(*, action: str, actor=None, obj=None, object_type: str | None = None,
                 object_id: str | int | None = None, before=None, after=None,
                 request_meta: dict | None = None, actor_repr: str | None = None) -> AuditEvent:
    """Append one signed event to the chain, in the caller's transaction.

    `obj` (a model instance) fills object_type ("app_label.model") and object_id; `before` and
    `after` are JSON-ready snapshots (dates and decimals are turned into text here).
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    if not object_type or object_id is None:
        raise ValueError("record_event needs obj, or object_type and object_id")
    if actor is None:
        actor_id, default_repr = None, SYSTEM_ACTOR
    elif getattr(actor, "is_authenticated", False):
        actor_id, default_repr = actor.pk, actor.get_username()
    else:
        actor_id, default_repr = None, ANONYMOUS_ACTOR
    key = signing_key()
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-sequence").only("sequence", "hash").first()
        event = AuditEvent(
            sequence=(last.sequence + 1) if last else 1,
            # Microsecond precision, which both SQLite and PostgreSQL keep, so the hash survives storage.
            occurred_at=timezone.now(),
            actor_id=actor_id,
            actor_repr=(actor_repr or default_repr)[:200],
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            before=to_json_value(before),
            after=to_json_value(after),
            request_meta=_clean_request_meta(request_meta),
            prev_hash=last.hash if last else GENESIS_HASH,
            key_id=key_id_of(key.public_key()),
        )
        event.hash = event_hash(event_body(event))
        event.signature = key.sign(bytes.fromhex(event.hash)).hex()
        event.save(force_insert=True)
    return event


# --- Verifying and exporting -----------------------------------------------------------------------
def known_public_keys() -> dict[str, Ed25519PublicKey]:
    return {key_id(): public_key()}


def verify_chain(queryset=None) -> ChainReport:
    """Recompute the whole chain from the database; the report names the first bad event."""
    events = (queryset if queryset is not None else AuditEvent.objects.all()).order_by("sequence")
    return ledger_verify.verify_events((exported_event(e) for e in events.iterator(chunk_size=2000)),
                                       known_public_keys())


CHECKPOINT_CACHE_KEY = "consent.ledger.checkpoint"


def chain_status(now: dt.datetime | None = None) -> ChainReport:
    """The chain's state for pages that show it on every load, without re-reading years of events.

    The whole chain is verified at most every LEDGER_FULL_CHECK_SECONDS (per cache); in between,
    only the events appended since the last verified one, after checking that this event still
    carries the hash it was verified with. `verify_ledger` and the API's verify action always
    recompute everything; on PostgreSQL a trigger refuses to change recorded events at all.
    """
    now = now or timezone.now()
    point = cache.get(CHECKPOINT_CACHE_KEY)
    fresh = point and (now - point["full_at"]).total_seconds() < settings.LEDGER_FULL_CHECK_SECONDS
    if fresh and AuditEvent.objects.filter(sequence=point["sequence"], hash=point["hash"]).exists():
        newer = AuditEvent.objects.filter(sequence__gt=point["sequence"]).order_by("sequence")
        tail = ledger_verify.verify_events((exported_event(e) for e in newer.iterator(chunk_size=2000)),
                                           known_public_keys(), after_sequence=point["sequence"],
                                           after_hash=point["hash"])
        report = ChainReport(tail.ok, point["count"] + tail.checked, tail.head_hash, tail.bad_sequence,
                             tail.bad_event, tail.problem)
        full_at = point["full_at"]
    else:
        report, full_at = verify_chain(), now
    if report.ok:
        cache.set(CHECKPOINT_CACHE_KEY, {"sequence": report.checked, "hash": report.head_hash,
                                         "count": report.checked, "full_at": full_at}, None)
    else:
        cache.delete(CHECKPOINT_CACHE_KEY)
    return report


def export_bundle(path: str | Path) -> dict:
    """Write events.jsonl, the public key, a signed manifest and the offline verifier into `path`.

    The folder must not exist or be empty. Returns the manifest.
    """
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; choose a new folder for the bundle")
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    count, head = 0, GENESIS_HASH
    # One read transaction, so that the file is a consistent prefix of the chain.
    with transaction.atomic(), (root / "events.jsonl").open("wb") as fh:
        for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000):
            line = canonical_json(exported_event(event)) + b"\n"
            fh.write(line)
            digest.update(line)
            count, head = count + 1, event.hash
    this_key_id = key_id()
    key_file = f"ledger-public-key-{this_key_id[:16]}.pem"
    (root / key_file).write_bytes(public_key_pem())
    manifest = {
        "format": ledger_verify.BUNDLE_FORMAT,
        "exported_at": format_time(timezone.now()),
        "events_file": "events.jsonl",
        "events_sha256": digest.hexdigest(),
        "event_count": count,
        "head_hash": head,
        "genesis_prev_hash": GENESIS_HASH,
        "public_keys": {this_key_id: key_file},
        "signed_by": this_key_id,
        "hash_rule": "hash = sha256(prev_hash ASCII hex || canonical JSON of the hashed fields); "
                     "signature = Ed25519 over the 32 raw bytes of hash",
        "hashed_fields": list(ledger_verify.HASHED_FIELDS),
        "verify_command": "python ledger_verify.py .",
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    (root / "manifest.json").write_bytes(manifest_bytes)
    (root / "manifest.sig").write_text(signing_key().sign(manifest_bytes).hex() + "\n")
    shutil.copyfile(Path(ledger_verify.__file__), root / "ledger_verify.py")
    return manifest


def verify_bundle(path: str | Path) -> ChainReport:
    """Same check as the offline command (`python -m consent.ledger_verify PATH`)."""
    return ledger_verify.verify_bundle_dir(path)
