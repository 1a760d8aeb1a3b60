"""Audio and video in and out, with PyAV, in memory.

Inside the pipeline audio is mono float32 PCM in [-1, 1] at 16 kHz and frames are uint8 RGB
(N, H, W, 3). `decode_audio` reads any common upload (WAV, MP3, AAC/M4A, Ogg, FLAC, or the audio
track of a video); `audio_features` turns audio into one row of mouth-driving features per video
frame; `encode_mp4` writes one segment (H.264 yuv420p + AAC 48 kHz) and `concat_mp4` joins
segments into the full recording. Bad input raises ValueError with a message that says what is wrong.
"""
from __future__ import annotations

import io
import math
import numbers
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import torch
import torch.nn.functional as F

AUDIO_SAMPLE_RATE = 16_000
ENCODED_AUDIO_RATE = 48_000  # AAC in the published MP4s
BT709 = 1  # the ITU-R BT.709 code of the colour space, primaries and transfer tags
AAC_FRAME_SIZE = 1024

# Loudness is mapped from an absolute dBFS range, not normalised per window, so that the same sound
# drives the same mouth opening in every segment (segments are rendered independently).
LOUDNESS_FLOOR_DB = -50.0
LOUDNESS_CEILING_DB = -10.0
LOW_BAND_HZ = 500.0
HIGH_BAND_HZ = 2000.0


# --- reading ---------------------------------------------------------------------------------


def _open_input(source):
    """Open bytes, a path, or a readable binary file object (e.g. a Django File) for decoding."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ValueError("The media file is empty.")
        target = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ValueError(f"No media file at {os.fspath(source)!r}.")
        if os.path.getsize(source) == 0:
            raise ValueError("The media file is empty.")
        target = os.fspath(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        return _open_input(source.read())
    else:
        raise ValueError(f"Cannot read media from a {type(source).__name__}; pass bytes, a path or a file.")
    try:
        return av.open(target, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise ValueError(f"Not a media file that can be decoded ({exc}).") from exc


def decode_audio(source, *, sample_rate: int = AUDIO_SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio stream of `source` to mono float32 PCM in [-1, 1] at `sample_rate`.

    `max_seconds` bounds the decoded length (ValueError beyond it), so an upload cannot make the
    worker decode hours of audio.
    """
    with _open_input(source) as container:
        if not container.streams.audio:
            raise ValueError("The file holds no audio stream; upload a speech recording (WAV, MP3, AAC, ...).")
        stream = container.streams.audio[0]
        # Keep the channels through resampling and average them here: libswresample's downmix
        # adds channels at -3 dB, which would make a stereo upload louder than its mono twin.
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        limit = None if max_seconds is None else int(max_seconds * sample_rate)
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler count samples; upload timestamps may be odd
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
                    total += chunks[-1].size
                if limit is not None and total > limit:
                    raise ValueError(f"The audio is longer than the {max_seconds:g} s allowed.")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.FFmpegError as exc:
            raise ValueError(f"The audio could not be decoded ({exc}).") from exc
    audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise ValueError("The audio stream holds no samples.")
    if limit is not None and audio.size > limit:
        raise ValueError(f"The audio is longer than the {max_seconds:g} s allowed.")
    return np.clip(audio, -1.0, 1.0)


def decode_video(source, *, max_frames: int | None = None) -> np.ndarray:
    """Decode the first video stream to RGB uint8 frames (N, H, W, 3)."""
    with _open_input(source) as container:
        if not container.streams.video:
            raise ValueError("The file holds no video stream.")
        frames = []
        try:
            for frame in container.decode(container.streams.video[0]):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except av.FFmpegError as exc:
            raise ValueError(f"The video could not be decoded ({exc}).") from exc
    if not frames:
        raise ValueError("The video stream holds no frames.")
    return np.stack(frames)


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration_seconds: float
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_count: int | None = None
    pix_fmt: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None


def probe(source) -> MediaInfo:
    """Container, codecs, size, frame rate, frame count and duration of a media file."""
    with _open_input(source) as container:
        info = {"format": container.format.name}
        duration = container.duration / av.time_base if container.duration else 0.0
        if container.streams.video:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate
            info.update(
                video_codec=stream.codec_context.name,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=float(rate) if rate else None,
                frame_count=stream.frames or None,
                pix_fmt=stream.codec_context.format.name if stream.codec_context.format else None,
            )
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
        if container.streams.audio:
            stream = container.streams.audio[0]
            info.update(
                audio_codec=stream.codec_context.name,
                audio_sample_rate=stream.codec_context.sample_rate,
                audio_channels=stream.codec_context.channels,
            )
        return MediaInfo(duration_seconds=duration, **info)


# --- audio features --------------------------------------------------------------------------


def frame_sample_index(frame_index: int, *, fps: int, sample_rate: int = AUDIO_SAMPLE_RATE) -> int:
    """The first audio sample of a video frame (rounded, so windows never drift over hours)."""
    return int(round(frame_index * sample_rate / fps))


def audio_window(
    audio: np.ndarray, *, first_frame_index: int, n_frames: int, fps: int, sample_rate: int = AUDIO_SAMPLE_RATE
) -> np.ndarray:
    """The samples of frames `first_frame_index .. + n_frames`, zero-padded past the end of `audio`."""
    start = frame_sample_index(first_frame_index, fps=fps, sample_rate=sample_rate)
    stop = frame_sample_index(first_frame_index + n_frames, fps=fps, sample_rate=sample_rate)
    window = np.zeros(stop - start, np.float32)
    piece = np.asarray(audio[start:stop], np.float32)  # slice first: `audio` may be a long memmap
    window[: piece.size] = piece
    return window


@dataclass(frozen=True)
class AudioFeatures:
    """One value per video frame, each in [0, 1]."""

    loudness: np.ndarray  # RMS level on an absolute dBFS scale: 0 = silence, 1 = loud speech
    centroid: np.ndarray  # spectral centroid / Nyquist: bright ("ee", "s") high, dark ("oo") low
    low: np.ndarray  # share of energy below 500 Hz
    mid: np.ndarray  # share of energy in 500–2000 Hz (first formants of open vowels)
    high: np.ndarray  # share of energy above 2 kHz (front vowels, fricatives)


def audio_features(
    audio: np.ndarray, *, fps: int, n_frames: int | None = None, sample_rate: int = AUDIO_SAMPLE_RATE
) -> AudioFeatures:
    """Per-video-frame loudness and spectral shape of `audio` (which starts at the first frame).

    Each frame is analysed over a Hann window two frames long centred on the frame. At the ends of
    `audio` the sound is mirrored for half a window (a window cut from a longer recording is
    analysed as if the sound went on, so the first and last frames of a segment do not dip);
    further out it is silence.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"Audio must be a 1-D float array (mono PCM); got {audio.dtype} {audio.shape}.")
    if fps < 1:
        raise ValueError(f"fps must be ≥ 1; got {fps}.")
    hop = sample_rate / fps
    if n_frames is None:
        n_frames = max(1, math.ceil(audio.size / hop - 1e-9))
    size = 2 * int(math.ceil(hop))
    centres = (np.arange(n_frames) + 0.5) * hop
    starts = np.round(centres - size / 2).astype(np.int64)
    padded = np.zeros(audio.size + 2 * size + int(math.ceil(n_frames * hop)), np.float32)
    padded[size : size + audio.size] = audio
    mirror = min(size // 2, audio.size)
    if mirror:
        padded[size - mirror : size] = audio[:mirror][::-1]
        padded[size + audio.size : size + audio.size + mirror] = audio[audio.size - mirror :][::-1]
    frames = padded[(starts + size)[:, None] + np.arange(size)[None, :]]
    window = np.hanning(size).astype(np.float32)
    windowed = frames * window
    rms = np.sqrt((windowed**2).sum(axis=1) / (window**2).sum())
    level_db = 20.0 * np.log10(rms + 1e-9)
    loudness = np.clip((level_db - LOUDNESS_FLOOR_DB) / (LOUDNESS_CEILING_DB - LOUDNESS_FLOOR_DB), 0.0, 1.0)
    power = np.abs(np.fft.rfft(windowed, axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    total = power.sum(axis=1) + 1e-12
    centroid = (power * freqs).sum(axis=1) / total / (sample_rate / 2)
    low = power[:, freqs < LOW_BAND_HZ].sum(axis=1) / total
    mid = power[:, (freqs >= LOW_BAND_HZ) & (freqs < HIGH_BAND_HZ)].sum(axis=1) / total
    high = power[:, freqs >= HIGH_BAND_HZ].sum(axis=1) / total
    silent = loudness <= 0.0
    # Spectral shape of silence is noise; give it neutral values so the mouth rests.
    centroid[silent], low[silent], mid[silent], high[silent] = 0.0, 0.0, 0.0, 0.0
    as32 = lambda a: np.clip(a, 0.0, 1.0).astype(np.float32)  # noqa: E731
    return AudioFeatures(as32(loudness), as32(centroid), as32(low), as32(mid), as32(high))


# --- writing ---------------------------------------------------------------------------------


def _check_frames(frames):
    """Frames as given (a torch tensor stays where it is), after checking shape and type."""
    if not isinstance(frames, torch.Tensor):
        frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"Frames must be shaped (N, H, W, 3) RGB; got {tuple(frames.shape)}.")
    if frames.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"Frames must be uint8; got {frames.dtype}.")
    n, height, width, _ = frames.shape
    if n == 0:
        raise ValueError("There are no frames to encode.")
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs an even width and height; got {width}x{height}.")
    return frames


# BT.709 RGB → Y'CbCr rows, scaled to limited range (Y 16–235, Cb/Cr 16–240).
_BT709_ROWS = ((0.2126, 0.7152, 0.0722), (-0.1146, -0.3854, 0.5), (0.5, -0.4542, -0.0458))
_LIMITED_RANGE = (219.0 / 255.0, 224.0 / 255.0, 224.0 / 255.0)
_YUV_CHUNK = 10  # frames converted at once: bounds the float working set (≈ 250 MB at 1080p)


def rgb_to_yuv420(frames: torch.Tensor) -> torch.Tensor:
    """yuv420p planes (N, H * 3/2, W) uint8, BT.709 limited range, computed on the frames' device.

    On a GPU this takes the colour conversion off the CPU and halves what crosses to the host.
    Chroma is the mean of each 2x2 block.
    """
    n, height, width, _ = frames.shape
    planes = torch.empty((n, height * 3 // 2, width), dtype=torch.uint8, device=frames.device)
    for start in range(0, n, _YUV_CHUNK):
        rgb = frames[start : start + _YUV_CHUNK].permute(0, 3, 1, 2).float()
        half = F.avg_pool2d(rgb, 2)
        out = []
        for row, (kr, kg, kb) in enumerate(_BT709_ROWS):
            source = rgb if row == 0 else half
            value = (kr * source[:, 0] + kg * source[:, 1] + kb * source[:, 2]) * _LIMITED_RANGE[row]
            out.append((value + (16.5 if row == 0 else 128.5)).clamp_(0, 255).flatten(1))
        planes[start : start + _YUV_CHUNK] = torch.cat(out, dim=1).to(torch.uint8).view(-1, height * 3 // 2, width)
    return planes


def _check_audio(audio) -> np.ndarray:
    if hasattr(audio, "detach"):
        audio = audio.detach().to("cpu").numpy()
    audio = np.asarray(audio)
    if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"Audio must be mono float PCM, a 1-D float array; got {audio.dtype} {audio.shape}.")
    return np.clip(audio.astype(np.float32, copy=False), -1.0, 1.0)


def _add_aac_stream(container, bitrate: int):
    stream = container.add_stream("aac", rate=ENCODED_AUDIO_RATE)
    stream.layout = "mono"
    stream.bit_rate = bitrate
    return stream


class _AacWriter:
    """Feeds mono float PCM at any rate, chunk by chunk, to an AAC stream at 48 kHz."""

    def __init__(self, container, stream, sample_rate: int):
        self.container, self.stream, self.sample_rate = container, stream, sample_rate
        self.resampler = av.AudioResampler(
            format="fltp", layout="mono", rate=ENCODED_AUDIO_RATE, frame_size=AAC_FRAME_SIZE
        )
        self.pts = 0
        self.in_pts = 0

    def _encode(self, frames):
        for frame in frames:
            frame.pts = self.pts
            frame.time_base = Fraction(1, ENCODED_AUDIO_RATE)
            self.pts += frame.samples
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def write(self, samples: np.ndarray):
        if samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self.in_pts
        frame.time_base = Fraction(1, self.sample_rate)
        self.in_pts += samples.size
        self._encode(self.resampler.resample(frame))

    def close(self):
        self._encode(self.resampler.resample(None))
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def encode_mp4(
    frames,
    audio,
    *,
    fps: int,
    sample_rate: int = AUDIO_SAMPLE_RATE,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: int = 96_000,
    convert_on_device: bool | None = None,
) -> bytes:
    """Encode frames (N, H, W, 3) uint8 RGB (numpy or torch) and mono audio to MP4 bytes.

    H.264 (libx264, yuv420p, one keyframe at the start, so every segment plays on its own) and
    AAC at 48 kHz. The audio is cut or padded with silence to the video's length N / fps.
    `convert_on_device` converts RGB to YUV with torch where the frames are (default: when they
    are on a GPU); otherwise FFmpeg's swscale converts on the CPU.
    """
    frames = _check_frames(frames)
    audio = _check_audio(audio)
    if isinstance(fps, bool) or not isinstance(fps, numbers.Integral) or not 1 <= fps <= 120:
        raise ValueError(f"fps must be an integer between 1 and 120; got {fps!r}.")
    if convert_on_device is None:
        convert_on_device = isinstance(frames, torch.Tensor) and frames.device.type != "cpu"
    if convert_on_device:
        yuv = rgb_to_yuv420(torch.as_tensor(frames)).to("cpu").numpy()
    else:
        rgb = np.ascontiguousarray(frames.detach().to("cpu").numpy() if isinstance(frames, torch.Tensor) else frames)
    n, height, width, _ = frames.shape
    wanted = int(round(n * sample_rate / fps))
    audio = np.pad(audio[:wanted], (0, max(0, wanted - audio.size)))

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = max(n, 2 * fps)
        video.options = {"crf": str(crf), "preset": preset}
        # BT.709, limited range, converted explicitly and tagged: players assume BT.709 for HD,
        # and an untagged BT.601 conversion would shift the colours.
        context = video.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = av.video.reformatter.ColorRange.MPEG
        aac = _AacWriter(container, _add_aac_stream(container, audio_bitrate), sample_rate)
        for index in range(n):
            if convert_on_device:
                frame = av.VideoFrame.from_ndarray(yuv[index], format="yuv420p")
                frame.colorspace, frame.color_range = BT709, av.video.reformatter.ColorRange.MPEG
            else:
                frame = av.VideoFrame.from_ndarray(rgb[index], format="rgb24").reformat(
                    format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG"
                )
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        aac.write(audio)
        aac.close()
    return buffer.getvalue()


def concat_mp4(segments, *, out: str | os.PathLike | None = None, audio_bitrate: int = 96_000) -> bytes | None:
    """Join MP4 segments from `encode_mp4` (bytes, paths or files) into one MP4 (the full recording):
    its bytes, or None once written to the path `out` (hours of video: give paths both ways, and
    no more than one segment is in memory at a time).

    The H.264 video is copied packet by packet (every segment starts with a keyframe); the audio
    is decoded and encoded once more as one continuous AAC track, so there is no priming gap or
    drift at the joins. All segments must share size, frame rate and codec.
    """
    if not segments:
        raise ValueError("There are no segments to join.")
    buffer = io.BytesIO() if out is None else os.fspath(out)
    with av.open(buffer, mode="w", format="mp4") as out:
        out_video = None
        aac = None
        video_offset = Fraction(0)  # seconds of video already written
        reference = parameters = None
        for number, data in enumerate(segments):
            with _open_input(data) as container:
                if not container.streams.video:
                    raise ValueError(f"Segment {number} holds no video stream.")
                in_video = container.streams.video[0]
                shape = (in_video.codec_context.name, in_video.codec_context.width,
                         in_video.codec_context.height, in_video.average_rate)
                if reference is None:
                    reference = shape
                    out_video = out.add_stream_from_template(in_video)
                    aac = _AacWriter(out, _add_aac_stream(out, audio_bitrate), ENCODED_AUDIO_RATE)
                    parameters = in_video.codec_context.extradata
                elif shape != reference:
                    raise ValueError(
                        f"Segment {number} is {shape[1]}x{shape[2]} {shape[0]} at {shape[3]} fps, but segment 0 "
                        f"is {reference[1]}x{reference[2]} {reference[0]} at {reference[3]} fps; they cannot be joined."
                    )
                elif in_video.codec_context.extradata != parameters:
                    # Copied packets decode with segment 0's parameter sets (SPS/PPS) only.
                    raise ValueError(
                        f"Segment {number} was encoded with other codec settings than segment 0; "
                        "they cannot be joined without re-encoding."
                    )
                fps = in_video.average_rate
                frame_count = 0
                for packet in container.demux(in_video):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    frame_count += 1
                    packet.stream = out_video
                    offset = int(round(video_offset / in_video.time_base))
                    packet.pts = None if packet.pts is None else packet.pts + offset
                    packet.dts = packet.dts + offset
                    out.mux(packet)
                duration = Fraction(frame_count) / fps
                has_sound = bool(container.streams.audio)
            samples = int(round(duration * ENCODED_AUDIO_RATE))
            # A segment without sound joins as silence; one whose sound does not decode is an error.
            audio = decode_audio(data, sample_rate=ENCODED_AUDIO_RATE) if has_sound else np.zeros(0, np.float32)
            aac.write(np.pad(audio[:samples], (0, max(0, samples - audio.size))))
            video_offset += duration
        aac.close()
    return buffer.getvalue() if isinstance(buffer, io.BytesIO) else None
