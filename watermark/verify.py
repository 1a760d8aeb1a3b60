"""Verify an MP4, JPEG or PNG: C2PA manifest, GB 45438 labels (implicit and explicit), watermark.

`verify_file(...).ok` is False when the file claims provenance that does not hold: an Invalid
manifest (bad signature, tampered bytes), an unreadable file, or, when trust anchors are given, a
signer they do not vouch for. A file without any manifest claims nothing: it is reported as
`no_manifest` and is not "not ok" by itself.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

import c2pa

from .aigc import AigcError, read_image_aigc, read_mp4_aigc
from .labels import LabelError, label_for
from .provenance import LICENSE_ASSERTION, SEGMENT_ASSERTION, TRAINING_MINING_ASSERTION

UNTRUSTED = "signingCredential.untrusted"
LABEL_SAMPLE_FRAMES = 3  # first, middle, last of the decoded frames
WATERMARK_MAX_FRAMES = 50  # one 2-s segment at 25 fps
_VERSIONED = re.compile(r"(\.v\d+)?(__\d+)?$")


@dataclass
class VerificationReport:
    mime: str | None
    size: int
    status: str  # "trusted" | "valid" | "invalid" | "no_manifest" | "unreadable"
    trust_anchors_given: bool
    manifest: dict | None = None
    failures: list[dict] = field(default_factory=list)
    aigc: dict = field(default_factory=dict)
    explicit_label: dict = field(default_factory=dict)
    watermark: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def provenance_claimed(self) -> bool:
        return self.status in ("trusted", "valid", "invalid")

    @property
    def ok(self) -> bool:
        if self.status in ("invalid", "unreadable"):
            return False
        if self.status == "valid" and self.trust_anchors_given:
            return False  # signed, but not by anyone the given anchors vouch for
        return True

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(ok=self.ok, provenance_claimed=self.provenance_claimed)
        return data

    def summary(self) -> str:
        lines = [f"{'OK' if self.ok else 'FAILED'}: {self.mime or 'unknown type'}, {self.size} bytes"]
        state = {
            "trusted": "C2PA manifest valid, signer trusted",
            "valid": "C2PA manifest valid, signer NOT trusted by the given anchors"
            if self.trust_anchors_given else "C2PA manifest valid (no trust anchors given: signer not checked)",
            "invalid": "C2PA manifest INVALID",
            "no_manifest": "no C2PA manifest",
            "unreadable": "cannot read the file",
        }[self.status]
        lines.append(f"  provenance: {state}")
        for failure in self.failures:
            lines.append(f"    - {failure['code']}: {failure.get('explanation', '')}")
        m = self.manifest or {}
        if m:
            lines.append(f"  manifest: {m.get('manifest_id')} signed by {m.get('signer', {}).get('common_name')}"
                         f" ({m.get('signer', {}).get('issuer')})")
            for action in m.get("actions", []):
                agent = action.get("softwareAgent") or {}
                source = (action.get("digitalSourceType") or "").rsplit("/", 1)[-1]
                lines.append(f"    action {action.get('action')}" + (f" [{source}]" if source else "")
                             + (f" by {agent.get('name')} {agent.get('version')}" if agent else ""))
            if m.get("license"):
                lic = m["license"]
                lines.append(f"    license #{lic.get('license_id')} (consent grant #{lic.get('consent_grant_id')}"
                             f" version {lic.get('consent_document_version')}): {lic.get('talent')} for {lic.get('brand')}"
                             f" on {lic.get('platform')}")
            if m.get("segment"):
                seg = m["segment"]
                lines.append(f"    segment {seg.get('sequenceNumber')} of stream {seg.get('streamId')},"
                             f" previous {seg.get('previousManifestId') or '-'}")
            if m.get("soft_binding"):
                sb = m["soft_binding"]
                lines.append(f"    soft binding {sb['alg']}: {len(sb['values'])} block(s)")
            if m.get("training_mining"):
                uses = sorted({v.get("use") for v in m["training_mining"].values()})
                lines.append(f"    training/mining: {', '.join(uses)}")
            for ingredient in m.get("ingredients", []):
                lines.append(f"    ingredient ({ingredient.get('relationship')}): {ingredient.get('title')}"
                             f" {ingredient.get('active_manifest') or ''}")
        if self.aigc.get("present"):
            label = self.aigc["label"]
            match = {True: ", matches manifest", False: ", DIFFERS from manifest", None: ""}[self.aigc.get("matches_manifest")]
            lines.append(f"  implicit label (AIGC): Label={label['Label']} ContentProducer={label['ContentProducer']}"
                         f" ProduceID={label['ProduceID']}{match}")
        else:
            lines.append(f"  implicit label (AIGC): absent{' (' + self.aigc['error'] + ')' if self.aigc.get('error') else ''}")
        el = self.explicit_label
        if el.get("checked_frames"):
            lines.append(f"  explicit label: {'present' if el['present'] else 'MISSING'} on"
                         f" {el['present_frames']}/{el['checked_frames']} sampled frames")
        else:
            lines.append(f"  explicit label: not checked ({el.get('reason', 'no frames')})")
        wm = self.watermark
        if wm.get("status") == "checked":
            found = wm.get("payload")
            match = {True: ", matches soft binding", False: ", NOT in soft binding", None: ""}[wm.get("matches_manifest")]
            lines.append(f"  watermark: {found + match if found else 'not detected'} over {wm.get('frames')} frame(s)")
        else:
            lines.append(f"  watermark: not checked ({wm.get('reason', '')})")
        lines.extend(f"  error: {e}" for e in self.errors)
        return "\n".join(lines)


def sniff_mime(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


@lru_cache(maxsize=8)
def _reader_context(trust_anchors_pem: str | None) -> c2pa.Context:
    # A public verifier must not fetch anything a file points at (remote manifests, OCSP).
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _summarise_manifest(active: dict) -> dict:
    by_label: dict[str, dict] = {}
    for assertion in active.get("assertions", []):
        # "c2pa.actions.v2" and a repeated "c2pa.actions__1" are all the actions assertion.
        base = _VERSIONED.sub("", assertion["label"])
        by_label.setdefault(base, assertion.get("data") or {})
    soft = by_label.get("c2pa.soft-binding")
    info = active.get("signature_info") or {}
    return {
        "manifest_id": active.get("label"),
        "title": active.get("title"),
        "claim_generator": active.get("claim_generator_info"),
        "signer": {k: info.get(k) for k in ("issuer", "common_name", "time", "alg")},
        "actions": [
            {k: a.get(k) for k in ("action", "digitalSourceType", "softwareAgent", "description") if a.get(k)}
            for a in by_label.get("c2pa.actions", {}).get("actions", [])
        ],
        "soft_binding": {"alg": soft.get("alg"), "values": [b.get("value") for b in soft.get("blocks", [])]} if soft else None,
        "segment": by_label.get(SEGMENT_ASSERTION),
        "license": by_label.get(LICENSE_ASSERTION),
        "training_mining": (by_label.get(TRAINING_MINING_ASSERTION) or {}).get("entries"),
        "ingredients": [
            {k: i.get(k) for k in ("title", "relationship", "active_manifest")} for i in active.get("ingredients", [])
        ],
    }


def _read_c2pa(report: VerificationReport, data: bytes, trust_anchors_pem: str | None) -> None:
    try:
        reader = c2pa.Reader.try_create(report.mime, io.BytesIO(data), None, _reader_context(trust_anchors_pem))
    except c2pa.C2paError as exc:
        # A manifest is there but cannot be parsed or checked: the claim does not hold.
        report.status = "invalid"
        report.errors.append(f"C2PA: {exc}")
        return
    if reader is None:
        report.status = "no_manifest"
        return
    with reader:
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    failures = list((results.get("activeManifest") or {}).get("failure", []))
    for delta in results.get("ingredientDeltas", []) or []:
        failures.extend((delta.get("validationDeltas") or {}).get("failure", []))
    report.failures = [{"code": f.get("code"), "explanation": f.get("explanation")} for f in failures]
    report.status = {"Trusted": "trusted", "Valid": "valid"}.get(state, "invalid")
    report.manifest = _summarise_manifest(active) if active else None


def _read_aigc(report: VerificationReport, data: bytes) -> None:
    try:
        label = read_mp4_aigc(data) if report.mime == "video/mp4" else read_image_aigc(data)
    except AigcError as exc:
        report.aigc = {"present": False, "error": str(exc)}
        return
    if label is None:
        report.aigc = {"present": False}
        return
    claimed = ((report.manifest or {}).get("license") or {}).get("aigc")
    report.aigc = {
        "present": True,
        "label": label.as_dict(),
        "matches_manifest": None if claimed is None else claimed == label.as_dict(),
    }


def _decode_frames(report: VerificationReport, data: bytes) -> list[np.ndarray]:
    """RGB frames: the image, or the first `WATERMARK_MAX_FRAMES` of a video (bounded work for uploads)."""
    try:
        if report.mime == "video/mp4":
            import av

            frames: list[np.ndarray] = []
            with av.open(io.BytesIO(data)) as container:
                for frame in container.decode(video=0):
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if len(frames) == WATERMARK_MAX_FRAMES:
                        break
            return frames
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return [np.array(image.convert("RGB"))]
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported, not raised
        report.errors.append(f"decode: {exc}")
        return []


def _check_explicit_label(report: VerificationReport, frames: list[np.ndarray]) -> None:
    if not frames:
        report.explicit_label = {"checked_frames": 0, "reason": "no decodable frames"}
        return
    picks = sorted({0, len(frames) // 2, len(frames) - 1})[:LABEL_SAMPLE_FRAMES]
    height, width = frames[0].shape[:2]
    try:
        label = label_for(width, height)
    except LabelError as exc:
        report.explicit_label = {"checked_frames": 0, "reason": str(exc)}
        return
    results = [label.presence(frames[i]) for i in picks]
    present = sum(r["present"] for r in results)
    report.explicit_label = {
        "checked_frames": len(results),
        "present_frames": present,
        "present": present == len(results),
        "frames": [{"index": i, **r} for i, r in zip(picks, results)],
    }


def _load_watermarker():
    try:
        from .engine import Watermarker
    except ImportError as exc:
        return None, f"watermark engine not installed ({exc})"
    try:
        return Watermarker(), None
    except Exception as exc:  # noqa: BLE001 - a misconfigured engine must not break verification
        return None, f"watermark engine unavailable ({exc})"


def _claimed_segments(values: list[str]) -> set[tuple[int, int]]:
    """(stream, segment) pairs named by soft-binding values written with `Payload.hex()`."""
    from .payload import parse_payload

    claimed = set()
    for value in values:
        try:
            payload = parse_payload(value)
        except ValueError:
            continue
        claimed.add((payload.stream_id, payload.segment))
    return claimed


def _check_watermark(report: VerificationReport, frames: list[np.ndarray], watermarker) -> None:
    if not frames:
        report.watermark = {"status": "not_checked", "reason": "no decodable frames"}
        return
    if watermarker is None:
        watermarker, reason = _load_watermarker()
        if watermarker is None:
            report.watermark = {"status": "not_checked", "reason": reason}
            return
    import torch

    try:
        if len(frames) == 1:
            result = watermarker.detect(torch.from_numpy(frames[0]))
        else:
            result = watermarker.detect_clip(torch.from_numpy(np.stack(frames)))
    except Exception as exc:  # noqa: BLE001 - report the engine's failure, keep the rest of the report
        report.watermark = {"status": "not_checked", "reason": f"detection failed: {exc}"}
        return
    stream_id, segment = getattr(result, "stream_id", None), getattr(result, "segment", None)
    payload = getattr(result, "payload", None)
    found = payload.hex() if payload is not None else (
        f"stream {stream_id} segment {segment}" if stream_id is not None else None)
    soft = (report.manifest or {}).get("soft_binding") or {}
    claimed = _claimed_segments(soft.get("values") or [])
    report.watermark = {
        "status": "checked",
        "frames": len(frames),
        "marked": stream_id is not None,
        "stream_id": stream_id,
        "segment": segment,
        "payload": found,
        "confidence": _plain(getattr(result, "confidence", None)),
        "matches_manifest": ((stream_id, segment) in claimed) if claimed else None,
    }


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def verify_file(
    data: bytes, *, mime: str | None = None, trust_anchors_pem: str | None = None, watermarker=None,
    check_media: bool = True,
) -> VerificationReport:
    """Check everything a viewer or auditor may ask of one file. Never raises for a bad file.

    `watermarker`: a configured `watermark.engine.Watermarker` (keyed); by default one is built
    if the engine is installed. `check_media=False` skips decoding (explicit label, watermark).
    """
    mime = mime or sniff_mime(data)
    report = VerificationReport(mime=mime, size=len(data), status="unreadable",
                                trust_anchors_given=bool(trust_anchors_pem))
    if mime not in ("video/mp4", "image/jpeg", "image/png"):
        report.errors.append("Not an MP4, JPEG or PNG file.")
        return report
    _read_c2pa(report, data, trust_anchors_pem)
    _read_aigc(report, data)
    if check_media:
        frames = _decode_frames(report, data)
        _check_explicit_label(report, frames)
        _check_watermark(report, frames, watermarker)
    return report


def check_segment_chain(reports: list[VerificationReport]) -> list[str]:
    """Problems in a stream's chain of segment reports, given in sequence order (empty when intact)."""
    problems = []
    previous = None
    for position, report in enumerate(reports):
        segment = (report.manifest or {}).get("segment")
        if not report.ok or segment is None:
            problems.append(f"segment #{position}: no valid segment manifest")
            previous = None
            continue
        if previous is not None:
            prev_segment = previous.manifest["segment"]
            if segment.get("streamId") != prev_segment.get("streamId"):
                problems.append(f"segment #{position}: belongs to stream {segment.get('streamId')}")
            if segment.get("sequenceNumber") != prev_segment.get("sequenceNumber", -2) + 1:
                problems.append(f"segment #{position}: sequence {segment.get('sequenceNumber')} does not follow"
                                f" {prev_segment.get('sequenceNumber')}")
            if segment.get("previousManifestId") != previous.manifest["manifest_id"]:
                problems.append(f"segment #{position}: previousManifestId does not name the segment before it")
        previous = report
    return problems


def report_json(report: VerificationReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
