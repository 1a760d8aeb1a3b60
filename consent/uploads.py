"""Validation of uploaded likeness media by content, never by name or declared type.

A file is accepted only if it decodes completely (Pillow verify + load for images, a full PyAV decode
for audio) within the size and duration limits in settings. Nothing is written anywhere here: the
service stores the bytes only after validation passed.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import av
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .exceptions import InvalidUpload

IMAGE_FORMATS = {"JPEG": (".jpg", "image/jpeg"), "PNG": (".png", "image/png"), "WEBP": (".webp", "image/webp")}
# PyAV container format names (as FFmpeg reports them) → stored extension and MIME type.
AUDIO_CONTAINERS = {
    "wav": (".wav", "audio/wav"),
    "mp3": (".mp3", "audio/mpeg"),
    "ogg": (".ogg", "audio/ogg"),
    "flac": (".flac", "audio/flac"),
    "mov,mp4,m4a,3gp,3g2,mj2": (".m4a", "audio/mp4"),
    "matroska,webm": (".webm", "audio/webm"),
}
MIN_AUDIO_SECONDS = 1.0


@dataclass(frozen=True)
class ValidatedMedia:
    data: bytes
    sha256: str
    extension: str
    content_type: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None


def read_limited(uploaded_file, limit: int) -> bytes:
    """Read at most `limit` bytes; a larger file is refused without reading it all."""
    if hasattr(uploaded_file, "seek"):
        uploaded_file.seek(0)
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise InvalidUpload(f"The file is larger than {limit // (1024 * 1024)} MiB. Upload a smaller file.",
                            code="upload_too_large", field="file")
    if not data:
        raise InvalidUpload("The file is empty.", code="upload_empty", field="file")
    return data


def validate_image(uploaded_file) -> ValidatedMedia:
    data = read_limited(uploaded_file, settings.LIKENESS_MAX_UPLOAD_BYTES)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt, (width, height) = probe.format, probe.size
            if fmt not in IMAGE_FORMATS:
                raise InvalidUpload(f"{fmt} images are not accepted. Upload a JPEG, PNG or WebP portrait.",
                                    code="upload_wrong_type", field="file")
            # Checked before decoding, so that a decompression bomb is refused without being expanded.
            if width * height > settings.LIKENESS_MAX_IMAGE_PIXELS:
                raise InvalidUpload(f"The image is {width}×{height} pixels, more than "
                                    f"{settings.LIKENESS_MAX_IMAGE_PIXELS:,} allowed. Upload a smaller image.",
                                    code="upload_too_large", field="file")
            if min(width, height) < settings.LIKENESS_MIN_IMAGE_SIDE:
                raise InvalidUpload(f"The image is {width}×{height} pixels; each side must be at least "
                                    f"{settings.LIKENESS_MIN_IMAGE_SIDE}. Upload a larger portrait.",
                                    code="upload_too_small", field="file")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() checks structure only; load() decodes every pixel (catches truncation)
    except InvalidUpload:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidUpload("The file is not an image. Upload a JPEG, PNG or WebP portrait.",
                            code="upload_wrong_type", field="file") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidUpload("The image is damaged or incomplete and cannot be decoded. Export it again and "
                            "upload the new file.", code="upload_corrupt", field="file") from exc
    extension, content_type = IMAGE_FORMATS[fmt]
    return ValidatedMedia(data, hashlib.sha256(data).hexdigest(), extension, content_type, width=width,
                          height=height)


def validate_audio(uploaded_file, *, max_seconds: float | None = None) -> ValidatedMedia:
    data = read_limited(uploaded_file, settings.LIKENESS_MAX_UPLOAD_BYTES)
    max_seconds = settings.LIKENESS_MAX_AUDIO_SECONDS if max_seconds is None else max_seconds
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            fmt = container.format.name
            if fmt not in AUDIO_CONTAINERS:
                raise InvalidUpload(f"{fmt} files are not accepted. Upload WAV, MP3, OGG, FLAC or M4A audio.",
                                    code="upload_wrong_type", field="file")
            if not container.streams.audio:
                raise InvalidUpload("The file has no sound track. Upload a voice recording.",
                                    code="upload_wrong_type", field="file")
            stream = container.streams.audio[0]
            # Count decoded samples rather than trusting the header's duration.
            samples, rate = 0, stream.codec_context.sample_rate or stream.rate
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
                if rate and samples / rate > max_seconds:
                    raise InvalidUpload(f"The recording is longer than {max_seconds:.0f} s. Upload a shorter "
                                        "voice sample.", code="upload_too_long", field="file")
    except InvalidUpload:
        raise
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise InvalidUpload("The file is not audio that can be decoded. Upload WAV, MP3, OGG, FLAC or M4A audio.",
                            code="upload_wrong_type", field="file") from exc
    duration = samples / rate if rate else 0.0
    if duration < MIN_AUDIO_SECONDS:
        raise InvalidUpload(f"The recording holds {duration:.2f} s of sound; at least {MIN_AUDIO_SECONDS:.0f} s "
                            "are needed. Upload a longer voice sample.", code="upload_too_short", field="file")
    extension, content_type = AUDIO_CONTAINERS[fmt]
    return ValidatedMedia(data, hashlib.sha256(data).hexdigest(), extension, content_type,
                          duration_seconds=round(duration, 3))
