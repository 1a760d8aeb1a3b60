"""The public verifier: what a file says about itself, and, for people allowed to know, whose it is."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rendering import provenance
from rendering import selectors as rendering_selectors
from rendering.models import Segment, Stream
from watermark.verify import VerificationReport

from . import permissions
from .uploads import read_verifier_upload

AI_SOURCE_TYPE = "trainedAlgorithmicMedia"


@dataclass(frozen=True)
class VerificationResult:
    sha256: str
    report: VerificationReport
    ai_signals: tuple[str, ...]  # which marks say "AI-generated"
    owner: dict | None  # stream, license and talent: only for people who may see that stream

    @property
    def ai_generated(self) -> bool:
        return bool(self.ai_signals)

    def as_dict(self) -> dict:
        return {
            "sha256": self.sha256,
            "ai_generated": self.ai_generated,
            "ai_signals": list(self.ai_signals),
            "report": self.report.as_dict(),
            "owner": self.owner,
        }


def ai_signals(report: VerificationReport) -> tuple[str, ...]:
    signals = []
    aigc = report.aigc or {}
    if aigc.get("present") and str((aigc.get("label") or {}).get("Label")) == "1":
        signals.append("AIGC implicit label (GB 45438): Label=1")
    actions = (report.manifest or {}).get("actions") or []
    if report.status in ("trusted", "valid") and any(
        (a.get("digitalSourceType") or "").endswith(AI_SOURCE_TYPE) for a in actions
    ):
        signals.append("C2PA manifest: digital source type trainedAlgorithmicMedia")
    if (report.explicit_label or {}).get("present"):
        signals.append("Visible AI label on the frames")
    if (report.watermark or {}).get("marked"):
        signals.append("Invisible watermark detected")
    return tuple(signals)


def _owner(user, sha256: str, report: VerificationReport) -> dict | None:
    """Who the file belongs to, from its exact bytes, else from its watermark, if the user may see it."""
    segment = rendering_selectors.segment_for_file(sha256=sha256)
    stream = segment.stream if segment else Stream.objects.filter(recording_sha256=sha256).first()
    how = "exact file" if stream else ""
    watermark = report.watermark or {}
    if stream is None and watermark.get("marked") and watermark.get("stream_id") is not None:
        stream = Stream.objects.filter(pk=watermark["stream_id"]).first()
        segment = Segment.objects.filter(stream=stream, sequence=watermark.get("segment")).first() if stream else None
        how = "watermark"
    if stream is None or not user.is_authenticated or not permissions.can_see_provenance_owner(user, stream):
        return None
    license = stream.license
    return {
        "matched_by": how,
        "stream": stream.pk,
        "stream_status": stream.status,
        "segment": segment.sequence if segment else None,
        "platform": stream.platform,
        "license": license.pk,
        "license_status": license.status,
        "brand": license.brand.name,
        "talent": license.talent.display_name,
        "consent_grant": license.grant_id,
        "started_at": stream.started_at.isoformat() if stream.started_at else None,
    }


def verify_upload(uploaded, *, user) -> VerificationResult:
    """Validate the upload by content and size (ValidationError if refused), then verify it."""
    data, mime = read_verifier_upload(uploaded)
    sha256 = hashlib.sha256(data).hexdigest()
    report = provenance.verify(data, mime=mime)
    return VerificationResult(sha256=sha256, report=report, ai_signals=ai_signals(report),
                              owner=_owner(user, sha256, report))
