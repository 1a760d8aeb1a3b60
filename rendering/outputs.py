"""Where a stream's files live, its indexes, and the signed full recording.

Layout under the media storage, one folder per stream:
    streams/<id>/segment-000000.mp4   published segments (labelled, watermarked, signed)
    streams/<id>/index.m3u8           HLS-style playlist of the published segments
    streams/<id>/segments.json        the same with hashes, manifest ids and watermark payloads
    streams/<id>/recording.mp4        after the end: all segments in one file, signed with them as ingredients
    streams/<id>/.incoming/           finished segments waiting for their row (never listed anywhere)
The indexes are rebuilt from the Segment rows, so they never name a file that is not published.
"""
from __future__ import annotations

import json
import math
import os
import time
import uuid

from django.core.files.storage import default_storage

from .models import Stream

INDEX_NAME = "index.m3u8"
JSON_INDEX_NAME = "segments.json"
RECORDING_NAME = "recording.mp4"


def stream_dir(stream_id: int) -> str:
    return f"streams/{stream_id}"


def segment_name(stream_id: int, sequence: int) -> str:
    return f"{stream_dir(stream_id)}/segment-{sequence:06d}.mp4"


def incoming_name(stream_id: int, sequence: int) -> str:
    return f"{stream_dir(stream_id)}/.incoming/segment-{sequence:06d}-{uuid.uuid4().hex}.mp4"


def index_name(stream_id: int) -> str:
    return f"{stream_dir(stream_id)}/{INDEX_NAME}"


def json_index_name(stream_id: int) -> str:
    return f"{stream_dir(stream_id)}/{JSON_INDEX_NAME}"


def recording_name(stream_id: int) -> str:
    return f"{stream_dir(stream_id)}/{RECORDING_NAME}"


def write_file_atomically(name: str, data: bytes) -> str:
    """Write `data` under `name` so that readers see the old file or the new one, never a part."""
    tmp = temporary_path(name)
    with open(tmp, "wb") as fh:
        fh.write(data)
    return publish_file(tmp, name)


def temporary_path(name: str) -> str:
    """A fresh path beside where `name` will live, to build a large file in before `publish_file`."""
    path = default_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return f"{path}.{uuid.uuid4().hex}.tmp"


def publish_file(tmp: str, name: str) -> str:
    """Move the finished file at `tmp` (from temporary_path) to `name` atomically, once it is on disk."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, default_storage.path(name))
    return name


def write_incoming(stream_id: int, sequence: int, data: bytes) -> str:
    name = incoming_name(stream_id, sequence)
    path = default_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return name


def clear_unpublished(stream_id: int, sequence: int, *, stale_after_seconds: float = 600) -> None:
    """Remove what a crashed earlier attempt at this segment left: a final file without its row
    (the crash fell between the rename and the commit), and old incoming files.

    Runs under the stream's row lock, which publication also holds from the rename to the commit,
    so it never removes a file that another attempt is publishing.
    """
    from django.db import transaction

    from .models import Segment

    with transaction.atomic():
        Stream.objects.select_for_update().filter(pk=stream_id).first()
        if not Segment.objects.filter(stream_id=stream_id, sequence=sequence).exists():
            final = default_storage.path(segment_name(stream_id, sequence))
            if os.path.exists(final):
                os.remove(final)
    incoming = default_storage.path(f"{stream_dir(stream_id)}/.incoming")
    if os.path.isdir(incoming):
        cutoff = time.time() - stale_after_seconds
        for entry in os.scandir(incoming):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.remove(entry.path)
            except FileNotFoundError:
                pass  # published or removed by another attempt meanwhile


def index_document(stream: Stream) -> dict:
    segments = list(stream.segments.order_by("sequence"))
    return {
        "stream": stream.pk,
        "license": stream.license_id,
        "status": stream.status,
        "end_reason": stream.end_reason,
        "width": stream.width,
        "height": stream.height,
        "fps": stream.fps,
        "segment_seconds": stream.segment_seconds,
        "ended": not stream.is_live,
        "segments": [
            {
                "sequence": s.sequence,
                "uri": os.path.basename(s.file.name),
                "start_seconds": s.start_seconds,
                "end_seconds": s.end_seconds,
                "frames": s.frame_count,
                "sha256": s.sha256,
                "manifest_id": s.manifest_id,
                "previous_manifest_id": s.previous_manifest_id,
                "watermark_payload": s.watermark_payload,
                "published_at": s.created_at.isoformat(),
            }
            for s in segments
        ],
        "recording": (
            {"uri": os.path.basename(stream.recording.name), "sha256": stream.recording_sha256,
             "manifest_id": stream.recording_manifest_id}
            if stream.recording else None
        ),
    }


def playlist(document: dict) -> str:
    """HLS-style media playlist. Each entry is a self-contained signed MP4 (one C2PA manifest each)."""
    segments = document["segments"]
    target = max([math.ceil(s["end_seconds"] - s["start_seconds"]) for s in segments] or
                 [math.ceil(document["segment_seconds"])])
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, target)}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for s in segments:
        lines.append(f"#EXTINF:{s['end_seconds'] - s['start_seconds']:.3f},")
        lines.append(s["uri"])
    if document["ended"]:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def write_indexes(stream_id: int) -> dict | None:
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None:
        return None
    document = index_document(stream)
    write_file_atomically(json_index_name(stream_id), json.dumps(document, indent=2).encode())
    write_file_atomically(index_name(stream_id), playlist(document).encode())
    return document
