"""The built-in animator: shapes, layout, audio-driven mouth, blinks, continuity, determinism, bad input."""
import cv2
import numpy as np
import pytest
import torch

from rendering.backends.portrait import PortraitAnimator
from rendering.media import audio_window

from .conftest import FPS, RATE, silence, tone

W, H = 192, 108  # small 16:9 frames keep the tests fast


def render(animator, prepared, audio, *, first=0, n=None, width=W, height=H, fps=FPS):
    n = n if n is not None else int(round(audio.size / RATE * fps))
    return animator.render(prepared, audio, first_frame_index=first, n_frames=n, fps=fps, width=width, height=height)


def box_pixels(frames, prepared, layout, key, grow=1.0):
    """The frames' pixels inside a geometry box (portrait fractions) mapped into the frame."""
    cx, cy, w, h = prepared.geometry[key]
    x0, y0, rw, rh = layout.roi
    u0, v0, u1, v1 = layout.roi_fraction
    to_x = lambda u: int(round(x0 + (u - u0) / (u1 - u0) * rw))  # noqa: E731
    to_y = lambda v: int(round(y0 + (v - v0) / (v1 - v0) * rh))  # noqa: E731
    return frames[:, to_y(cy - grow * h / 2) : to_y(cy + grow * h / 2) + 1, to_x(cx - grow * w / 2) : to_x(cx + grow * w / 2) + 1]


@pytest.mark.parametrize("width, height", [(192, 108), (108, 192), (128, 128), (320, 180), (1280, 720), (720, 1280)])
def test_frames_have_the_requested_size_and_type(animator, prepared, clone_portrait, width, height):
    frames = render(animator, prepared, silence(0.12), width=width, height=height)
    assert frames.shape == (3, height, width, 3)
    assert frames.dtype == torch.uint8 and frames.device.type == "cpu"
    # The portrait, not noise or a blank: the head region of the frame is the clone's head.
    layout = animator.layout(prepared, width, height)
    x, y, w, h = layout.roi
    u0, v0, u1, v1 = layout.roi_fraction
    size = clone_portrait.image.shape[0]
    head = clone_portrait.image[round(v0 * size) : round(v1 * size), round(u0 * size) : round(u1 * size)]
    shown = cv2.resize(frames[0, y : y + h, x : x + w].numpy(), head.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(shown.astype(float) - head).mean() < 12
    assert frames.float().std() > 20


def test_vertical_output_keeps_the_face_in_the_upper_part(animator, prepared):
    layout = animator.layout(prepared, 108, 192)
    x, y, w, h = layout.roi
    assert y + h / 2 < 192 / 2
    assert 0 <= x and x + w <= 108


def test_same_inputs_give_the_same_frames(animator, prepared, clone_portrait):
    audio = tone(0.4, amplitude=0.4)
    first = render(animator, prepared, audio, first=37)
    again = PortraitAnimator().prepare(clone_portrait.image, clone_portrait.geometry, device="cpu")
    second = render(PortraitAnimator(), again, audio, first=37)
    assert torch.equal(first, second)


def test_mouth_opens_with_loudness(animator, prepared):
    layout = animator.layout(prepared, W, H)
    quiet = render(animator, prepared, silence(0.4))
    darkness = []
    for amplitude in (0.0, 0.01, 0.05, 0.15, 0.5):
        frames = render(animator, prepared, tone(0.4, amplitude=amplitude))
        mouth = box_pixels(frames, prepared, layout, "mouth", grow=1.6)[2:-2].float()
        darkness.append(float((mouth.mean(dim=-1) < 70).float().mean()))  # the open mouth's dark inside
        if amplitude == 0.5:
            loud_mouth = mouth
    quiet_mouth = box_pixels(quiet, prepared, layout, "mouth", grow=1.6)[2:-2].float()
    assert (loud_mouth - quiet_mouth).abs().mean() > 10
    assert darkness[0] == darkness[1]  # near-silence leaves the lips closed
    assert darkness[-1] > darkness[0] + 0.05
    assert all(b >= a - 0.01 for a, b in zip(darkness, darkness[1:])), darkness


def test_mouth_follows_the_audio_frame_by_frame(animator, prepared):
    # Alternating 0.2 s of vowel and 0.2 s of silence: the mouth opens and closes with it.
    audio = np.concatenate([tone(0.2, amplitude=0.4), silence(0.2)] * 3)
    openness = animator.motion(prepared, audio, first_frame_index=0, n_frames=30, fps=FPS)["open"].numpy()
    sound, pause = openness.reshape(6, 5)[0::2, 1:4], openness.reshape(6, 5)[1::2, 1:4]
    assert sound.min() > 0.3 and pause.max() < 0.05


def test_bright_sounds_widen_the_mouth_and_dark_ones_round_it(animator, prepared):
    bright = animator.motion(prepared, tone(0.4, freq=2800, harmonics=1), first_frame_index=0, n_frames=10, fps=FPS)
    dark = animator.motion(prepared, tone(0.4, freq=180, harmonics=2), first_frame_index=0, n_frames=10, fps=FPS)
    assert bright["widen"][2:-2].min() > 0.2
    assert dark["widen"][2:-2].max() < -0.2


def test_eyes_blink(animator, prepared):
    n = 10 * FPS
    blink = animator.motion(prepared, silence(10.0), first_frame_index=0, n_frames=n, fps=FPS)["blink"]
    closed = [i for i in torch.nonzero(blink > 0.8).flatten().tolist() if i >= 6 and blink[i - 6] == 0]
    assert 2 <= int((blink > 0.8).sum()) < n // 4 and closed  # blinks happen, now and then
    layout = animator.layout(prepared, 320, 180)

    def eye(index):
        frame = render(animator, prepared, silence(1 / FPS), first=index, n=1, width=320, height=180)
        return box_pixels(frame, prepared, layout, "left_eye").float()[0].mean(dim=-1)

    # Open, the eye is white around a dark iris; closed, it is an even lid. Compare each closed
    # frame with the same eye a quarter of a second before, when the head was nearly in place.
    for index in closed[:2]:
        shut, before = eye(index), eye(index - 6)
        assert before.std() > 1.5 * shut.std()


def test_head_moves_over_time(animator, prepared):
    frames = render(animator, prepared, silence(4.0), n=40, fps=10)
    assert (frames[0].float() - frames[-1].float()).abs().mean() > 0.5


def test_segments_continue_each_other(animator, prepared):
    fps, n = FPS, 20
    audio = np.concatenate([tone(0.3, amplitude=0.3), silence(0.2), tone(0.3, amplitude=0.2)])
    whole = render(animator, prepared, audio, n=2 * n)
    first = render(animator, prepared, audio_window(audio, first_frame_index=0, n_frames=n, fps=fps), n=n)
    second = render(animator, prepared, audio_window(audio, first_frame_index=n, n_frames=n, fps=fps), first=n, n=n)
    split = torch.cat([first, second])
    # Head motion and blinks depend on the absolute frame index, so the split matches the whole
    # except (slightly) where the audio analysis sees the cut.
    diff = (split.float() - whole.float()).abs().mean(dim=(1, 2, 3))
    assert diff[: n - 2].max() < 0.5 and diff[n + 2 :].max() < 0.5
    # No jump at the join: the step across it is like any other step.
    steps = (whole[1:].float() - whole[:-1].float()).abs().mean(dim=(1, 2, 3))
    join = (second[0].float() - first[-1].float()).abs().mean()
    assert join <= steps.max() + 0.5


def test_cuda_style_float_scaling_matches_the_cpu_uint8_path(clone_portrait):
    # CUDA scales the warped region in float; the same code path runs here on the CPU.
    audio = tone(0.4, amplitude=0.3)
    frames = []
    for uint8_resize in (True, False):
        animator = PortraitAnimator(uint8_resize=uint8_resize)
        prepared = animator.prepare(clone_portrait.image, clone_portrait.geometry, device="cpu")
        frames.append(render(animator, prepared, audio, width=640, height=360).float())
    assert (frames[0] - frames[1]).abs().mean() < 0.5
    assert (frames[0] - frames[1]).abs().max() <= 3


@pytest.mark.parametrize(
    "change, message",
    [
        ({"audio_window": np.zeros((2, 100), np.float32)}, "mono"),
        ({"audio_window": np.zeros(100, np.int16)}, "float"),
        ({"audio_window": np.full(100, np.nan, np.float32)}, "NaN"),
        ({"n_frames": 0}, "n_frames"),
        ({"first_frame_index": -1}, "first_frame_index"),
        ({"fps": 0}, "fps"),
        ({"width": 10}, "width"),
        ({"height": 99999}, "height"),
    ],
)
def test_render_rejects_bad_requests(animator, prepared, change, message):
    request = dict(audio_window=silence(0.2), first_frame_index=0, n_frames=5, fps=FPS, width=W, height=H)
    request.update(change)
    audio = request.pop("audio_window")
    with pytest.raises(ValueError, match=message):
        animator.render(prepared, audio, **request)


def test_render_needs_a_prepared_portrait(animator):
    with pytest.raises(ValueError, match="PreparedPortrait"):
        animator.render(object(), silence(0.2), first_frame_index=0, n_frames=5, fps=FPS, width=W, height=H)


@pytest.mark.parametrize(
    "portrait, geometry_change, message",
    [
        (np.zeros((256, 256), np.uint8), {}, "RGB"),
        (np.zeros((256, 256, 3), np.float32), {}, "uint8"),
        (np.zeros((200, 256, 3), np.uint8), {}, "square"),
        (None, {"mouth": None}, "mouth"),
        (None, {"left_eye": [0.4, 0.4, -0.1, 0.1]}, "left_eye"),
    ],
)
def test_prepare_rejects_bad_input(animator, clone_portrait, portrait, geometry_change, message):
    geometry = {**clone_portrait.geometry, **geometry_change}
    with pytest.raises(ValueError, match=message):
        animator.prepare(clone_portrait.image if portrait is None else portrait, geometry, device="cpu")


def test_numpy_integers_are_accepted(animator, prepared):
    frames = animator.render(prepared, silence(0.2), first_frame_index=np.int64(3), n_frames=np.int32(5),
                             fps=np.int64(FPS), width=np.int64(W), height=np.int64(H))
    assert frames.shape == (5, H, W, 3)


def test_continuous_speech_does_not_dip_at_segment_joins(animator, prepared):
    # A vowel held across the join: each segment sees only its own audio, yet the mouth stays open.
    audio = tone(2.0, amplitude=0.08)  # a level where the opening is most sensitive to loudness
    whole = animator.motion(prepared, audio, first_frame_index=0, n_frames=50, fps=FPS)["open"]
    parts = [
        animator.motion(prepared, audio_window(audio, first_frame_index=k, n_frames=25, fps=FPS),
                        first_frame_index=k, n_frames=25, fps=FPS)["open"]
        for k in (0, 25)
    ]
    split = torch.cat(parts)
    assert (split[1:-1] - whole[1:-1]).abs().max() < 0.02
    assert split[1:-1].min() > 0.1


def test_long_windows_are_rendered_in_batches_without_seams(animator, prepared):
    from rendering.backends import portrait

    audio = tone(3.0, amplitude=0.2)
    whole = render(animator, prepared, audio, n=75)
    assert whole.shape[0] == 75 > portrait.RENDER_BATCH
    # Frames 50-74 rendered in one call, where no batch boundary falls, match the long call's
    # frames around its internal boundary (63 | 64) exactly.
    tail = render(animator, prepared, audio_window(audio, first_frame_index=50, n_frames=25, fps=FPS), first=50, n=25)
    assert torch.equal(whole[58:70], tail[8:20])
