"""Upload checks by content and size: what a file is, never what its name or browser says it is."""
from __future__ import annotations

import io

import av
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image

from watermark.verify import sniff_mime

IMAGE_MIMES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def _read_limited(uploaded, max_bytes: int) -> bytes:
    if uploaded.size is not None and uploaded.size > max_bytes:
        raise ValidationError(
            f"The file is {uploaded.size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. Upload a smaller file.",
            code="file_too_large",
        )
    uploaded.seek(0)
    data = uploaded.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(f"The file is larger than {max_bytes / 1e6:.0f} MB.", code="file_too_large")
    if not data:
        raise ValidationError("The file is empty.", code="file_empty")
    return data


def _check_image(data: bytes, mime: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if IMAGE_MIMES.get(image.format) != mime:
                raise ValidationError("The image content does not match its format.", code="file_unreadable")
            if image.width * image.height > settings.VERIFIER_MAX_IMAGE_PIXELS:
                raise ValidationError("The image has too many pixels.", code="file_too_large")
            image.verify()
    except ValidationError:
        raise
    except Exception as exc:  # Pillow raises many types for broken files
        raise ValidationError("The image could not be read; it may be damaged.", code="file_unreadable") from exc


def _probe_av(data: bytes) -> set[str]:
    """The kinds of tracks ("audio", "video", ...) PyAV finds in a container; raises if unreadable."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return {stream.type for stream in container.streams}
    except Exception as exc:  # PyAV raises FFmpeg errors of many types
        raise ValidationError("The media file could not be read; it may be damaged.", code="file_unreadable") from exc


def read_verifier_upload(uploaded) -> tuple[bytes, str]:
    """Bytes and media type of a file sent to the public verifier: a JPEG or PNG frame, or an MP4."""
    data = _read_limited(uploaded, settings.VERIFIER_MAX_UPLOAD_BYTES)
    mime = sniff_mime(data[:16])
    if mime is None:
        raise ValidationError("Upload a JPEG or PNG image, or an MP4 video.", code="unsupported_file_type")
    if mime.startswith("image/"):
        _check_image(data, mime)
    elif "video" not in _probe_av(data):
        raise ValidationError("The MP4 file holds no video track.", code="file_unreadable")
    return data, mime

