"""Audio decode, per-frame audio features, MP4 encode / join / probe: all in memory with PyAV."""
import io
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from rendering import media

from .conftest import FPS, RATE, silence, tone


def encode_audio(samples, *, rate, container, codec, layout="stereo"):
    """Encode test audio the way an upload might arrive (another rate, stereo, compressed)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = layout
        channels = 2 if layout == "stereo" else 1
        codec_format = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=codec_format, layout=layout, rate=rate)
        interleaved = np.repeat(samples, channels).reshape(1, -1)  # packed: L R L R ...
        frame = av.AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for chunk in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def dominant_frequency(audio, rate=RATE):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return np.fft.rfftfreq(audio.size, 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize(
    "container, codec",
    [("wav", "pcm_s16le"), ("mp3", "libmp3lame"), ("adts", "aac"), ("ipod", "aac"), ("flac", "flac")],
)
def test_decode_audio_gives_mono_16k_float_from_common_formats(container, codec):
    rate = 44_100
    t = np.arange(int(1.5 * rate)) / rate
    source = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = encode_audio(source, rate=rate, container=container, codec=codec)
    audio = media.decode_audio(data)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / RATE - 1.5) < 0.1  # codec priming and padding at most
    assert np.abs(audio).max() <= 1.0
    assert abs(dominant_frequency(audio) - 440) < 5
    assert 0.3 < np.abs(audio[RATE // 2 : RATE]).max() < 0.6


def test_decode_audio_reads_paths_and_files(tmp_path):
    data = encode_audio(tone(0.5), rate=RATE, container="wav", codec="pcm_s16le", layout="mono")
    path = tmp_path / "speech.wav"
    path.write_bytes(data)
    from_bytes = media.decode_audio(data)
    assert np.allclose(media.decode_audio(path), from_bytes)
    with path.open("rb") as handle:
        assert np.allclose(media.decode_audio(handle), from_bytes)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is a text file, not a recording\n" * 50, "(decoded|no audio)"),
        (bytes(range(256)) * 40, "(decoded|no audio)"),
    ],
)
def test_decode_audio_refuses_what_is_not_audio(data, message):
    with pytest.raises(ValueError, match=message):
        media.decode_audio(data)


def silent_video(frames):
    """An MP4 with a video stream only."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = i
            for packet in stream.encode(video_frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_decode_audio_refuses_a_video_without_sound_and_overlong_audio(tmp_path):
    with pytest.raises(ValueError, match="no audio stream"):
        media.decode_audio(silent_video(np.zeros((5, 64, 64, 3), np.uint8)))
    with pytest.raises(ValueError, match="longer than"):
        media.decode_audio(encode_audio(tone(2.0), rate=RATE, container="wav", codec="pcm_s16le"), max_seconds=1.0)
    with pytest.raises(ValueError, match="No media file"):
        media.decode_audio(tmp_path / "missing.wav")


def test_audio_features_follow_level_and_spectrum():
    levels = [media.audio_features(tone(0.4, amplitude=a), fps=FPS).loudness[2:-2].mean() for a in (0.003, 0.03, 0.3)]
    assert levels[0] < levels[1] < levels[2]
    assert media.audio_features(silence(0.4), fps=FPS).loudness.max() == 0.0
    low = media.audio_features(tone(0.4, freq=200, harmonics=1), fps=FPS)
    high = media.audio_features(tone(0.4, freq=3000, harmonics=1), fps=FPS)
    assert high.centroid[2:-2].min() > low.centroid[2:-2].max()
    assert high.high[2:-2].min() > 0.9 and low.low[2:-2].min() > 0.9
    features = media.audio_features(tone(1.0), fps=FPS, n_frames=30)
    assert features.loudness.shape == (30,) and features.loudness.dtype == np.float32
    assert features.loudness[-3:].max() == 0.0  # past the end of the audio: silence


def test_audio_window_is_frame_aligned_and_padded():
    audio = np.arange(RATE, dtype=np.float32)  # one second
    window = media.audio_window(audio, first_frame_index=20, n_frames=10, fps=FPS)
    assert window.size == 10 * RATE // FPS
    assert window[0] == 20 * RATE // FPS
    assert np.all(window[(RATE - 20 * RATE // FPS) :] == 0)  # after the end: silence


def moving_frames(n, height=72, width=128):
    frames = np.zeros((n, height, width, 3), np.uint8)
    frames[..., 2] = 90
    for i in range(n):
        frames[i, 20:50, 4 * i : 4 * i + 30] = (230, 180, 40)
    return frames


def test_encode_mp4_round_trip():
    frames = moving_frames(25)
    mp4 = media.encode_mp4(frames, tone(1.0), fps=FPS)
    info = media.probe(mp4)
    assert (info.video_codec, info.audio_codec, info.pix_fmt) == ("h264", "aac", "yuv420p")
    assert (info.width, info.height, info.frame_count, info.fps) == (128, 72, 25, 25.0)
    assert info.audio_sample_rate == media.ENCODED_AUDIO_RATE and info.audio_channels == 1
    assert abs(info.duration_seconds - 1.0) < 0.05
    decoded = media.decode_video(mp4)
    assert decoded.shape == frames.shape
    mse = np.mean((decoded.astype(np.float32) - frames.astype(np.float32)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30  # PSNR: the picture survives the codec
    audio = media.decode_audio(mp4)
    assert abs(audio.size / RATE - 1.0) < 0.05 and abs(dominant_frequency(audio) - 220) < 10


def test_encode_mp4_takes_tensors_and_fits_the_audio_to_the_video():
    frames = torch.from_numpy(moving_frames(10))
    mp4 = media.encode_mp4(frames, tone(3.0), fps=FPS)  # audio longer than 0.4 s of video: cut
    assert abs(media.decode_audio(mp4).size / RATE - 0.4) < 0.05
    mp4 = media.encode_mp4(frames, silence(0.1), fps=FPS)  # shorter: padded with silence
    assert abs(media.probe(mp4).duration_seconds - 0.4) < 0.05


@pytest.mark.parametrize(
    "frames, audio, message",
    [
        (np.zeros((0, 64, 64, 3), np.uint8), silence(0.1), "no frames"),
        (np.zeros((2, 64, 64), np.uint8), silence(0.1), "shaped"),
        (np.zeros((2, 64, 64, 3), np.float32), silence(0.1), "uint8"),
        (np.zeros((2, 63, 64, 3), np.uint8), silence(0.1), "even"),
        (np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 10), np.float32), "mono"),
        (np.zeros((2, 64, 64, 3), np.uint8), np.zeros(10, np.int16), "float"),
    ],
)
def test_encode_mp4_rejects_bad_input(frames, audio, message):
    with pytest.raises(ValueError, match=message):
        media.encode_mp4(frames, audio, fps=FPS)


def test_concat_mp4_joins_segments_into_one_recording():
    segments = [media.encode_mp4(moving_frames(10), tone(0.4, freq=220 * (k + 1)), fps=FPS) for k in range(3)]
    full = media.concat_mp4(segments)
    info = media.probe(full)
    assert info.frame_count == 30 and abs(info.duration_seconds - 1.2) < 0.06
    frames = media.decode_video(full)
    assert frames.shape == (30, 72, 128, 3)
    assert np.abs(frames[10].astype(int) - media.decode_video(segments[1])[0].astype(int)).mean() < 1.0
    audio = media.decode_audio(full)
    assert abs(audio.size / RATE - 1.2) < 0.06
    # Each segment's sound lands at its own time.
    for k in range(3):
        part = audio[int((0.4 * k + 0.1) * RATE) : int((0.4 * k + 0.3) * RATE)]
        assert abs(dominant_frequency(part) - 220 * (k + 1)) < 15


def test_concat_mp4_reads_paths_and_writes_a_file(tmp_path):
    segments = [media.encode_mp4(moving_frames(10), tone(0.4), fps=FPS) for _ in range(2)]
    paths = []
    for k, data in enumerate(segments):
        paths.append(tmp_path / f"segment-{k}.mp4")
        paths[-1].write_bytes(data)
    out = tmp_path / "recording.mp4"
    assert media.concat_mp4(paths, out=out) is None
    assert out.read_bytes() == media.concat_mp4(segments)
    assert media.probe(str(out)).frame_count == 20


def test_concat_mp4_refuses_mismatched_or_missing_segments():
    with pytest.raises(ValueError, match="no segments"):
        media.concat_mp4([])
    small = media.encode_mp4(moving_frames(5), silence(0.2), fps=FPS)
    large = media.encode_mp4(moving_frames(5, height=96, width=160), silence(0.2), fps=FPS)
    with pytest.raises(ValueError, match="cannot be joined"):
        media.concat_mp4([small, large])
    with pytest.raises(ValueError):
        media.concat_mp4([small, b"not an mp4"])
    other_settings = silent_video(moving_frames(5))  # libx264 defaults, not encode_mp4's
    with pytest.raises(ValueError, match="other codec settings"):
        media.concat_mp4([small, other_settings])


def test_gpu_style_colour_conversion_matches_ffmpeg():
    # On a GPU the frames are converted to YUV by torch before they leave the device; the same
    # code runs here on the CPU and must agree with FFmpeg's swscale.
    frames = moving_frames(6)
    ramp = np.linspace(0, 255, 128, dtype=np.float32)
    frames[:, 50:] = np.stack([ramp, ramp[::-1], np.full(128, 128.0)], axis=-1).astype(np.uint8)
    planes = media.rgb_to_yuv420(torch.from_numpy(frames))[0].numpy().astype(int)
    reference = av.VideoFrame.from_ndarray(frames[0], format="rgb24").reformat(
        format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG"
    ).to_ndarray().astype(int)
    assert planes.shape == reference.shape == (108, 128)
    assert np.abs(planes[:72] - reference[:72]).max() <= 1  # luma
    assert np.abs(planes[72:] - reference[72:]).mean() < 2  # chroma (filters differ at edges)
    on_device = media.encode_mp4(torch.from_numpy(frames), silence(0.24), fps=FPS, convert_on_device=True)
    swscale = media.encode_mp4(frames, silence(0.24), fps=FPS)
    a, b = media.decode_video(on_device).astype(int), media.decode_video(swscale).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 2


def without_sound(mp4):
    """The same MP4 with its audio stream left out (video packets copied)."""
    buffer = io.BytesIO()
    with av.open(io.BytesIO(mp4)) as source, av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return buffer.getvalue()


def test_concat_mp4_fills_a_segment_without_sound_with_silence():
    sounding = media.encode_mp4(moving_frames(10), tone(0.4, amplitude=0.4), fps=FPS)
    mute = without_sound(media.encode_mp4(moving_frames(10), silence(0.4), fps=FPS))
    full = media.concat_mp4([sounding, mute])
    assert media.probe(full).frame_count == 20
    audio = media.decode_audio(full)
    assert np.abs(audio[int(0.1 * RATE) : int(0.3 * RATE)]).max() > 0.2
    assert np.abs(audio[int(0.5 * RATE) : int(0.75 * RATE)]).max() < 0.01
