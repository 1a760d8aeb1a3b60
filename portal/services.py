"""The portal's own state change: recording who exported the evidence bundle, with the bundle itself."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from django.db import transaction

from consent import ledger
from consent.exceptions import NotPermitted

from . import permissions


def export_evidence_bundle(*, actor, request_meta: dict | None = None) -> tuple[bytes, dict]:
    """A zip of the signed ledger bundle (events, public key, signed manifest, offline verifier).

    The export itself is recorded in the ledger first, so the bundle contains its own export event:
    whoever holds the bundle can see who exported it and when.
    """
    if not permissions.can_read_ledger(actor):
        raise NotPermitted("Only legal reviewers and platform admins can export the evidence bundle.")
    with transaction.atomic():
        ledger.record_event(action="ledger.exported", actor=actor, object_type="consent.ledger", object_id="chain",
                            request_meta=request_meta)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bundle"
        manifest = ledger.export_bundle(root)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, Path("consentframe-evidence") / path.relative_to(root))
    return buffer.getvalue(), manifest
