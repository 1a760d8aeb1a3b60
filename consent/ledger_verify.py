"""Offline verification of the audit ledger: Python standard library plus `cryptography`, nothing else.

This module never imports Django, so a legal team can check an exported bundle without the platform:

    python -m consent.ledger_verify BUNDLE_DIR        # from a checkout or an installed package
    python BUNDLE_DIR/ledger_verify.py BUNDLE_DIR     # the copy that export_ledger puts in the bundle

The format is documented in docs/ledger.md, so that an auditor can also write an independent checker.
Exit status: 0 when every check passes, 1 when the ledger is broken (the first bad event is named),
2 when the bundle cannot be read.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
BUNDLE_FORMAT = "consentframe-ledger-bundle/1"
# The fields of an event covered by its hash, in the order they are listed in docs/ledger.md.
HASHED_FIELDS = (
    "sequence", "occurred_at", "actor_id", "actor_repr", "action", "object_type", "object_id",
    "before", "after", "request_meta", "prev_hash", "key_id",
)


def canonical_json(value) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII-escaped): one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(body: Mapping) -> str:
    """sha256(prev_hash as ASCII hex || canonical JSON of the hashed fields), hex."""
    content = {name: body[name] for name in HASHED_FIELDS}
    return hashlib.sha256(body["prev_hash"].encode("ascii") + canonical_json(content)).hexdigest()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_hash: str
    bad_sequence: int | None = None
    bad_event: str = ""
    problem: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.checked} events, chain and signatures intact, head {self.head_hash}"
        return f"BROKEN at event #{self.bad_sequence} ({self.bad_event}): {self.problem}"


def verify_events(events: Iterable[Mapping], public_keys: Mapping[str, Ed25519PublicKey], *,
                  after_sequence: int = 0, after_hash: str = GENESIS_HASH) -> ChainReport:
    """Check sequence numbers, hash links, recomputed hashes and signatures; stop at the first bad event.

    `events` continue the chain after event `after_sequence`, whose hash is `after_hash` (by
    default they start it); `checked` counts the events of this call.
    """
    expected_sequence = after_sequence + 1
    prev_hash = after_hash
    checked = 0
    for event in events:
        label = f"{event.get('action', '?')} {event.get('object_type', '?')}:{event.get('object_id', '?')}"
        sequence = event.get("sequence")

        def broken(problem: str) -> ChainReport:
            return ChainReport(False, checked, prev_hash, sequence, label, problem)

        missing = [name for name in (*HASHED_FIELDS, "hash", "signature") if name not in event]
        if missing:
            return broken(f"fields missing: {', '.join(missing)}")
        if sequence != expected_sequence:
            return broken(f"sequence {sequence} where {expected_sequence} was expected (an event is missing "
                          f"or was inserted)")
        if event["prev_hash"] != prev_hash:
            return broken("prev_hash does not link to the previous event (the chain was cut or reordered)")
        if event_hash(event) != event["hash"]:
            return broken("hash does not match the event's content (the event was altered)")
        key = public_keys.get(event["key_id"])
        if key is None:
            return broken(f"signed with unknown key {event['key_id']}")
        try:
            key.verify(bytes.fromhex(event["signature"]), bytes.fromhex(event["hash"]))
        except (InvalidSignature, ValueError):
            return broken("signature does not verify with the ledger key")
        prev_hash = event["hash"]
        expected_sequence += 1
        checked += 1
    return ChainReport(True, checked, prev_hash)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the ledger public key is not an Ed25519 key")
    return key


class BundleError(Exception):
    """The bundle is incomplete or unreadable (as opposed to a broken chain)."""


def verify_bundle_dir(path: str | Path) -> ChainReport:
    """Verify an export: the manifest's signature and digests, then every event of the chain."""
    root = Path(path)
    try:
        manifest_bytes = (root / "manifest.json").read_bytes()
        manifest = json.loads(manifest_bytes)
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"unknown bundle format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        keys = {}
        for key_id, filename in manifest["public_keys"].items():
            key = load_public_key((root / filename).read_bytes())
            if key_id_of(key) != key_id:
                raise BundleError(f"public key file {filename} does not have the key id {key_id}")
            keys[key_id] = key
        signer = keys.get(manifest["signed_by"])
        if signer is None:
            raise BundleError("the manifest names a signing key that the bundle does not contain")
        signature = bytes.fromhex((root / "manifest.sig").read_text().strip())
        events_bytes = (root / manifest["events_file"]).read_bytes()
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"cannot read bundle {root}: {exc}") from exc
    try:
        signer.verify(signature, manifest_bytes)
    except InvalidSignature:
        return ChainReport(False, 0, GENESIS_HASH, None, "manifest", "manifest signature does not verify")
    if hashlib.sha256(events_bytes).hexdigest() != manifest["events_sha256"]:
        return ChainReport(False, 0, GENESIS_HASH, None, "events file", "events file does not match the manifest")
    try:
        events = [json.loads(line) for line in events_bytes.decode("utf-8").splitlines() if line.strip()]
    except ValueError as exc:
        raise BundleError(f"events file is not JSON lines: {exc}") from exc
    report = verify_events(events, keys)
    if not report.ok:
        return report
    if report.checked != manifest["event_count"] or report.head_hash != manifest["head_hash"]:
        return ChainReport(False, report.checked, report.head_hash, None, "manifest",
                           f"manifest promises {manifest['event_count']} events ending in {manifest['head_hash']}, "
                           f"the file holds {report.checked} ending in {report.head_hash}")
    return report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m consent.ledger_verify BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        report = verify_bundle_dir(args[0])
    except BundleError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
