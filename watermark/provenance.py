"""C2PA manifests for segments, recordings and still frames (c2pa-python 0.38.1, c2pa-rs 0.91.3).

Each segment is a complete MP4 with its own embedded manifest, signed after the watermark and the
AIGC label are in, so the BMFF hash binds every frame's samples ("hard" binding) and the
soft-binding assertion names the watermark payload in every frame ("soft" binding).

Live fragmented-MP4 signing (C2PA §19, session keys and emsg) is not exposed by c2pa-python, so
segments are chained instead with the §19.3 assertion `c2pa.livevideo.segment`
{streamId, sequenceNumber, continuityMethod "c2pa.manifestId", previousManifestId}; the SDK
accepts that label in an ordinary manifest, so we use it as is.
"""
from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import c2pa

from .aigc import (
    AigcError, AigcLabel, read_image_aigc, read_mp4_aigc, read_mp4_aigc_file, write_image_aigc, write_mp4_aigc,
    write_mp4_aigc_file,
)
from .credentials import Credentials, CredentialError, check_signing_chain

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
LICENSE_ASSERTION = "org.consentframe.license"
SEGMENT_ASSERTION = "c2pa.livevideo.segment"
TRAINING_MINING_ASSERTION = "cawg.training-mining"
TRAINING_MINING_USES = ("cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining")
GENERATOR_NAME = "consentframe"


def _generator_version() -> str:
    try:
        return version("consentframe")
    except PackageNotFoundError:  # running from a checkout that was not pip-installed
        return "0+checkout"


class ProvenanceError(RuntimeError):
    """Signing failed. `code` is stable; the message says what to check."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SoftwareAgent:
    """The renderer that made the frames (C2PA actions' softwareAgent)."""

    name: str
    version: str


@dataclass(frozen=True)
class SoftBindingBlock:
    """One frame's watermark: its time in the signed file (seconds from the file's start) and payload."""

    start_seconds: float
    end_seconds: float
    payload_hex: str


@dataclass(frozen=True, kw_only=True)
class ContentInfo:
    """What every manifest states about a piece of licensed synthetic media.

    license_id / consent_grant_id / consent_document_version: the legal basis (consent.models).
    talent_display_name, brand_name, platform: who appears, who publishes, where.
    aigc: the GB 45438 implicit label, also written into the file if it is not there yet.
    software_agent: renderer name and version. watermark_algorithm: `watermark.engine.ALGORITHM_NAME`.
    soft_bindings: one block per frame (a still has one block; its times are ignored).
    """

    license_id: int
    consent_grant_id: int
    consent_document_version: str
    talent_display_name: str
    brand_name: str
    platform: str
    aigc: AigcLabel
    software_agent: SoftwareAgent
    watermark_algorithm: str
    soft_bindings: tuple[SoftBindingBlock, ...] = ()

    def license_assertion(self, **extra) -> dict:
        return {
            "license_id": self.license_id,
            "consent_grant_id": self.consent_grant_id,
            "consent_document_version": self.consent_document_version,
            "talent": self.talent_display_name,
            "brand": self.brand_name,
            "platform": self.platform,
            "aigc": self.aigc.as_dict(),
            **extra,
        }


@dataclass(frozen=True, kw_only=True)
class SegmentInfo(ContentInfo):
    """One segment of a stream; `previous_manifest_id` is None for the first (sequence 0)."""

    stream_id: int
    sequence: int
    previous_manifest_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordingInfo(ContentInfo):
    """A whole stream's recording, made of its signed segments (given as ingredients, in order)."""

    stream_id: int
    segment_manifest_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, kw_only=True)
class StillInfo(ContentInfo):
    """One frame exported as an image: which segment and which frame of it."""

    stream_id: int
    sequence: int
    frame_index: int


@dataclass(frozen=True)
class Signed:
    data: bytes
    manifest_id: str


def _actions(info: ContentInfo, *, first: dict) -> dict:
    actions = [first]
    if info.soft_bindings:
        actions.append(
            {"action": "c2pa.watermarked", "parameters": {"description": f"Invisible watermark {info.watermark_algorithm}"}}
        )
    return {"label": "c2pa.actions.v2", "data": {"actions": actions}}


def _created(info: ContentInfo, description: str) -> dict:
    return {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": info.software_agent.name, "version": info.software_agent.version},
        "description": description,
    }


def _soft_binding(info: ContentInfo, *, temporal: bool) -> list[dict]:
    if not info.soft_bindings:
        return []
    blocks = []
    for block in info.soft_bindings:
        scope = {}
        if temporal:  # c2pa-rs stores timespans as whole milliseconds from the media's start
            scope["timespan"] = {"start": round(block.start_seconds * 1000), "end": round(block.end_seconds * 1000)}
        blocks.append({"scope": scope, "value": block.payload_hex})
    return [{"label": "c2pa.soft-binding", "data": {"alg": info.watermark_algorithm, "blocks": blocks, "pad": [0]}}]


def _training_mining() -> dict:
    return {
        "label": TRAINING_MINING_ASSERTION,
        "data": {"entries": {use: {"use": "notAllowed"} for use in TRAINING_MINING_USES}},
    }


class ProvenanceSigner:
    """Signs MP4 segments, recordings and stills. Build once per worker and reuse (thread-safe).

    The credentials are checked here, so an unusable certificate fails at start-up with a
    `CredentialError` that says what to fix. `tsa_url`: an RFC 3161 timestamp authority; without
    one a manifest turns Invalid once the certificate expires (production needs one), and an
    unreachable TSA makes every signature fail.
    """

    def __init__(self, credentials: Credentials, tsa_url: str | None = None, *, verify_after_sign: bool = False):
        check_signing_chain(credentials.chain_pem)
        self.credentials = credentials
        self.tsa_url = tsa_url or None
        try:
            if credentials.sign_callback is not None:
                self._signer = c2pa.Signer.from_callback(
                    credentials.sign_callback, _alg(credentials.alg), credentials.chain_pem, self.tsa_url
                )
            else:
                self._signer = c2pa.Signer.from_info(
                    c2pa.C2paSignerInfo(
                        credentials.alg, credentials.chain_pem.encode(), credentials.key_pem.encode(), self.tsa_url
                    )
                )
        except c2pa.C2paError as exc:
            raise CredentialError(
                "credentials_rejected", f"The C2PA SDK rejected the signing credentials: {exc}"
            ) from exc
        # Thumbnails cost 60-95 ms per frame-sized image and add nothing for video segments.
        self._context = c2pa.Context(
            c2pa.Settings.from_dict(
                {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": verify_after_sign}}
            )
        )
        self._lock = threading.Lock()

    def _sign(self, manifest: dict, mime: str, data: bytes, ingredients=()) -> Signed:
        out = io.BytesIO()
        manifest_id = self._sign_streams(manifest, mime, io.BytesIO(data), out, ingredients)
        return Signed(data=out.getvalue(), manifest_id=manifest_id)

    def _sign_streams(self, manifest: dict, mime: str, source, dest, ingredients=()) -> str:
        """Sign `source` into `dest` (binary streams); ingredients are (json, mime, bytes or path).
        Each ingredient is read when added and closed at once: hours of segments never sit open or
        in memory together."""
        manifest_id = f"urn:c2pa:{uuid.uuid4()}"
        manifest = {
            "claim_generator_info": [{"name": GENERATOR_NAME, "version": _generator_version()}],
            "label": manifest_id,
            "format": mime,
            **manifest,
        }
        try:
            with self._lock:
                builder = c2pa.Builder(manifest, context=self._context)
                for ingredient, ingredient_mime, ingredient_data in ingredients:
                    with _readable(ingredient_data) as stream:
                        builder.add_ingredient(ingredient, ingredient_mime, stream)
                builder.sign(self._signer, mime, source, dest)
        except c2pa.C2paError as exc:
            hint = " Check that the timestamp authority is reachable." if self.tsa_url else ""
            raise ProvenanceError("c2pa_sign_failed", f"C2PA signing of a {mime} failed: {exc}.{hint}") from exc
        return manifest_id

    def sign_segment(self, mp4: bytes, info: SegmentInfo) -> Signed:
        """Embed a manifest in one complete MP4 segment (watermarked and labelled already)."""
        mp4 = _with_mp4_label(mp4, info.aigc)
        segment = {"streamId": str(info.stream_id), "sequenceNumber": info.sequence, "continuityMethod": "c2pa.manifestId"}
        if info.previous_manifest_id:
            segment["previousManifestId"] = info.previous_manifest_id
        manifest = {
            "title": f"stream-{info.stream_id}-segment-{info.sequence:06d}.mp4",
            "assertions": [
                _actions(info, first=_created(info, "AI digital-human livestream segment rendered under a license")),
                *_soft_binding(info, temporal=True),
                {"label": SEGMENT_ASSERTION, "data": segment},
                {"label": LICENSE_ASSERTION, "data": info.license_assertion(stream_id=info.stream_id, sequence=info.sequence)},
                _training_mining(),
            ],
        }
        return self._sign(manifest, "video/mp4", mp4)

    def sign_recording(self, source: str | os.PathLike, dest: str | os.PathLike, info: RecordingInfo,
                       ingredients: Sequence[bytes | str | os.PathLike]) -> str:
        """Sign a stream's whole recording, the MP4 file at `source`, into the file `dest`, with its
        signed segments (bytes or paths) as `componentOf` ingredients; returns the manifest id.

        Files, not bytes: a recording of hours is gigabytes. `source` gets the implicit label in
        place first unless it carries it already.
        """
        _label_mp4_file(source, info.aigc)
        parts = []
        placed = []
        for index, segment in enumerate(ingredients):
            ingredient_id = f"segment-{index}"
            parts.append(({"title": f"segment-{index:06d}.mp4", "relationship": "componentOf", "label": ingredient_id},
                          "video/mp4", segment))
            placed.append(ingredient_id)
        first = _created(info, "Recording of an AI digital-human livestream, joined from its signed segments")
        actions = _actions(info, first=first)
        if placed:
            actions["data"]["actions"].append({"action": "c2pa.placed", "parameters": {"ingredientIds": placed}})
        manifest = {
            "title": f"stream-{info.stream_id}-recording.mp4",
            "assertions": [
                actions,
                *_soft_binding(info, temporal=True),
                {"label": LICENSE_ASSERTION, "data": info.license_assertion(
                    stream_id=info.stream_id, segment_manifest_ids=list(info.segment_manifest_ids))},
                _training_mining(),
            ],
        }
        with open(source, "rb") as src, open(dest, "w+b") as out:
            return self._sign_streams(manifest, "video/mp4", src, out, parts)

    def sign_still(self, image: bytes, mime: str, info: StillInfo, parent_segment: bytes) -> Signed:
        """Sign one exported frame (JPEG or PNG) with its signed segment as the parent ingredient."""
        try:
            if read_image_aigc(image) != info.aigc:
                image = write_image_aigc(image, mime, info.aigc)
        except AigcError as exc:
            raise ProvenanceError(exc.code, f"Cannot label the still: {exc}") from exc
        # A derived asset opens its parent rather than being "created"; C2PA allows one of the two.
        opened = {
            "action": "c2pa.opened",
            "parameters": {"ingredientIds": ["parent-segment"]},
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": {"name": GENERATOR_NAME, "version": _generator_version()},
            "description": f"Frame {info.frame_index} of segment {info.sequence} exported as a still",
        }
        manifest = {
            "title": f"stream-{info.stream_id}-segment-{info.sequence:06d}-frame-{info.frame_index:03d}",
            "assertions": [
                _actions(info, first=opened),
                *_soft_binding(info, temporal=False),
                {"label": LICENSE_ASSERTION, "data": info.license_assertion(
                    stream_id=info.stream_id, sequence=info.sequence, frame_index=info.frame_index)},
                _training_mining(),
            ],
        }
        parent = ({"title": f"stream-{info.stream_id}-segment-{info.sequence:06d}.mp4", "relationship": "parentOf",
                   "label": "parent-segment"}, "video/mp4", parent_segment)
        return self._sign(manifest, mime, image, [parent])


def _readable(data):
    """A binary stream over bytes or the file at a path, for `with`."""
    return io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else open(data, "rb")


def _with_mp4_label(mp4: bytes, label: AigcLabel) -> bytes:
    # The implicit label must be inside the hashed bytes: write it unless the exact label is there.
    try:
        return mp4 if read_mp4_aigc(mp4) == label else write_mp4_aigc(mp4, label)
    except AigcError as exc:
        raise ProvenanceError(exc.code, f"Cannot label the MP4: {exc}") from exc


def _label_mp4_file(path, label: AigcLabel) -> None:
    """_with_mp4_label for the MP4 file at `path`, in place."""
    try:
        if read_mp4_aigc_file(path) != label:
            write_mp4_aigc_file(path, label)
    except AigcError as exc:
        raise ProvenanceError(exc.code, f"Cannot label the MP4: {exc}") from exc


def _alg(name: str) -> c2pa.C2paSigningAlg:
    try:
        return c2pa.C2paSigningAlg[name.upper()]
    except KeyError:
        raise CredentialError("credentials_alg_unsupported", f"Unknown C2PA signing algorithm {name!r}.") from None
