"""Provenance from settings: the C2PA signer, trust anchors, AIGC label defaults, the verifier.

Production sets C2PA_SIGNING_CERT_PATH and C2PA_SIGNING_KEY_PATH (and C2PA_TRUST_ANCHORS_PATH,
C2PA_TSA_URL). Without them a development CA and signer are generated into PROVENANCE_DIR on
first use (or by `manage.py provenance_init`) and reused afterwards.
"""
from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from watermark.aigc import AigcLabel
from watermark.credentials import (
    ANCHORS_FILE,
    CHAIN_FILE,
    KEY_FILE,
    CredentialError,
    Credentials,
    check_signing_chain,
    generate_dev_credentials,
    load_credentials,
    write_credentials,
)
from watermark.provenance import ProvenanceSigner
from watermark.verify import VerificationReport, verify_file

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_signers: dict[tuple, ProvenanceSigner] = {}


def _configured_paths() -> tuple[str, str, str]:
    return settings.C2PA_SIGNING_CERT_PATH, settings.C2PA_SIGNING_KEY_PATH, settings.C2PA_TRUST_ANCHORS_PATH


def ensure_dev_credentials(*, force: bool = False) -> dict[str, Path]:
    """Generate the development CA and signer into PROVENANCE_DIR unless a usable set is there.

    A file lock keeps two workers starting together from writing two different CAs.
    """
    directory = Path(settings.PROVENANCE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in (CHAIN_FILE, KEY_FILE, ANCHORS_FILE)}
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and all(p.exists() for p in paths.values()):
            try:
                check_signing_chain(paths[CHAIN_FILE].read_text())
                return paths
            except CredentialError as exc:
                logger.warning("Development C2PA credentials in %s unusable (%s); generating new ones.", directory, exc)
        previous_anchors = paths[ANCHORS_FILE].read_text() if paths[ANCHORS_FILE].exists() else ""
        written = write_credentials(directory, generate_dev_credentials())
        if previous_anchors:
            # Keep trusting the old root: segments signed before the renewal must stay Trusted.
            with open(written[ANCHORS_FILE], "a") as anchors:
                anchors.write(previous_anchors)
        logger.info("Generated development C2PA credentials in %s", directory)
        return {name: written[name] for name in paths}


def credentials() -> Credentials:
    cert_path, key_path, anchors_path = _configured_paths()
    if bool(cert_path) != bool(key_path):
        raise ImproperlyConfigured("Set both C2PA_SIGNING_CERT_PATH and C2PA_SIGNING_KEY_PATH, or neither (demo CA).")
    if cert_path:
        return load_credentials(cert_path, key_path, anchors_path=anchors_path or None)
    paths = ensure_dev_credentials()
    return load_credentials(paths[CHAIN_FILE], paths[KEY_FILE], anchors_path=paths[ANCHORS_FILE])


def get_signer() -> ProvenanceSigner:
    """The process-wide signer for the current settings (built once; checks the certificate)."""
    key = (*_configured_paths(), str(settings.PROVENANCE_DIR), settings.C2PA_TSA_URL)
    with _lock:
        signer = _signers.get(key)
        if signer is None:
            signer = _signers[key] = ProvenanceSigner(credentials(), tsa_url=settings.C2PA_TSA_URL or None)
        return signer


def trust_anchors_pem() -> str | None:
    """The roots the verifier trusts: C2PA_TRUST_ANCHORS_PATH, else the development CA."""
    cert_path, _, anchors_path = _configured_paths()
    if anchors_path:
        return Path(anchors_path).read_text()
    if cert_path:
        return None  # production signer without configured anchors: report Valid, not Trusted
    return ensure_dev_credentials()[ANCHORS_FILE].read_text()


def produce_id(*, stream_id: int, sequence: int | None = None, frame: int | None = None) -> str:
    """GB 45438 ProduceID: this platform's identifier of the content."""
    value = f"stream-{stream_id}"
    if sequence is not None:
        value += f"/segment-{sequence}"
    if frame is not None:
        value += f"/frame-{frame}"
    return value


def aigc_label(*, produce_id: str) -> AigcLabel:
    return AigcLabel(
        content_producer=settings.AIGC_CONTENT_PRODUCER,
        produce_id=produce_id,
        content_propagator=settings.AIGC_CONTENT_PROPAGATOR,
    )


def watermarker():
    """The watermark detector with the deployment's key, or None to let the verifier use its default."""
    key = getattr(settings, "WATERMARK_KEY", "")
    if not key:
        return None
    from watermark.engine import Watermarker

    return Watermarker(key)


def verify(data: bytes, *, mime: str | None = None, check_media: bool = True) -> VerificationReport:
    return verify_file(
        data, mime=mime, trust_anchors_pem=trust_anchors_pem(), watermarker=watermarker(), check_media=check_media
    )


def reset() -> None:
    """Forget the cached signers (tests that change the C2PA settings)."""
    with _lock:
        _signers.clear()
