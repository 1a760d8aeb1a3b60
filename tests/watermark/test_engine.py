import io

import av
import numpy as np
import pytest
import torch
from PIL import Image

from watermark import engine, wm_testmedia
from watermark.payload import Payload


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.float() - b.float()).pow(2).mean().item()
    return 10 * np.log10(255**2 / mse)


def _jpeg(frame: torch.Tensor, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(frame.numpy()).save(buf, "JPEG", quality=quality)
    return np.array(Image.open(buf).convert("RGB"))


def test_algorithm_name_is_stable():
    assert engine.ALGORITHM_NAME == "org.consentframe.wm.v1"


def test_segment_round_trip(marker, face_clip):
    marked = marker.embed_segment(face_clip, stream_id=0xC0FFEE, segment=31)
    assert marked.shape == face_clip.shape and marked.dtype == torch.uint8
    assert _psnr(face_clip, marked) >= 40
    for i in (0, 3, 5):
        found = marker.detect(marked[i].numpy())
        assert found.payload == Payload(0xC0FFEE, 31, i)
        assert found.confidence > 0.9
    clip = marker.detect_clip(marked)
    assert (clip.stream_id, clip.segment) == (0xC0FFEE, 31)
    assert clip.matched_frames == tuple(range(6))
    assert clip.frame_numbers == {i: i for i in range(6)}


def test_embed_with_explicit_payloads_and_portrait():
    frames = wm_testmedia.frames("face", 2, 640, 360, seed=4)
    payloads = [Payload(1, 2, 3), Payload(9, 8, 7)]
    marked = engine.Watermarker().embed(frames, payloads)
    found = [engine.Watermarker().detect(marked[i]) for i in range(2)]
    assert [f.payload for f in found] == payloads


def test_unmarked_and_other_key_read_as_unmarked(marker, face_clip):
    assert not marker.detect(face_clip[0]).marked
    other = engine.Watermarker(key=b"someone-else").embed_segment(face_clip[:2], stream_id=5, segment=5)
    found = marker.detect(other[0])
    assert found.payload is None and not found.marked and found.confidence == 0.0


def test_survives_jpeg_and_downscale(marker, face_clip):
    marked = marker.embed_segment(face_clip[:1], stream_id=77, segment=1)
    assert marker.detect(_jpeg(marked[0], 50)).stream_id == 77
    half = torch.nn.functional.interpolate(
        marked.permute(0, 3, 1, 2).float(), scale_factor=0.5, mode="area"
    ).round().to(torch.uint8).permute(0, 2, 3, 1)
    # 320x180 is the smallest frame the scheme reads.
    assert marker.detect(half[0]).stream_id == 77


def _h264(frames: torch.Tensor, crf: int) -> torch.Tensor:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for frame in frames.numpy():
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    buf.seek(0)
    with av.open(buf) as box:
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)]))


def test_survives_h264_4_2_0(marker, face_clip):
    marked = marker.embed_segment(face_clip, stream_id=31337, segment=2)
    encoded = _h264(marked, crf=28)
    assert all(d.stream_id == 31337 and d.segment == 2 for d in marker.detect_frames(encoded, resync=False))
    clip = marker.detect_clip(encoded)
    assert (clip.stream_id, clip.segment) == (31337, 2)
    # P-frames keep their reference's frame field; the clip reads positions from one common offset.
    assert clip.frame_numbers == {i: i for i in range(6)}


def test_clip_resynchronises_after_crop(marker, face_clip):
    marked = marker.embed_segment(face_clip, stream_id=4242, segment=9)
    cropped = marked[:, 10:334, 20:596]  # keeps 90 % of each side, off-centre
    found = marker.detect_clip(cropped)
    assert found.resynchronised and (found.stream_id, found.segment) == (4242, 9)


@pytest.mark.parametrize("height, width", [(360, 640), (480, 854), (854, 480)])
def test_busy_texture_resynchronises_after_crop(marker, height, width):
    # Busy blocks carry quantised chips, not the spatial pilot the scaled-crop search looks for: a
    # crop kept at its pixel size is found at its source's pitch, frame by frame and as a clip;
    # 480p's pitch (8/3 by 2.67 pixels) is not a whole number.
    frames = wm_testmedia.frames("texture", 3, height, width, seed=6)
    top, left = round(0.047 * height), round(0.064 * width)  # keeps 90 % of each side, off-centre
    cropped = marker.embed_segment(frames, stream_id=99, segment=4)[
        :, top:top + round(0.9 * height), left:left + round(0.9 * width)]
    assert all(d.resynchronised and d.segment == 4 for d in marker.detect_frames(cropped))
    found = marker.detect_clip(cropped)
    assert found.resynchronised and (found.stream_id, found.segment) == (99, 4)


def test_clip_across_a_segment_boundary_reports_both(marker, face_clip):
    a = marker.embed_segment(face_clip[:3], stream_id=8, segment=100)
    b = marker.embed_segment(face_clip[3:], stream_id=8, segment=101)
    found = marker.detect_clip(torch.cat([a, b]))
    segments = {m.segment: m.frames for m in found.matches}
    assert segments == {100: (0, 1, 2), 101: (3, 4, 5)}


def test_embed_keeps_the_device(marker):
    frames = wm_testmedia.frames("flat", 1, 180, 320, seed=1)
    out = marker.embed_segment(frames.to("cpu"), stream_id=1, segment=1)
    assert out.device == frames.device


@pytest.mark.parametrize("frames, message", [
    (torch.zeros(1, 360, 640, 3, dtype=torch.float32), "uint8"),
    (torch.zeros(360, 640, 3, dtype=torch.uint8), r"\(N, H, W, 3\)"),
    (torch.zeros(1, 360, 640, 4, dtype=torch.uint8), r"\(N, H, W, 3\)"),
    (torch.zeros(1, 170, 300, 3, dtype=torch.uint8), "too small"),
    ([[1, 2, 3]], "torch.Tensor or numpy"),
])
def test_bad_frames_are_refused_clearly(marker, frames, message):
    with pytest.raises(ValueError, match=message):
        marker.embed_segment(frames, stream_id=1, segment=1)


def test_bad_payload_lists_are_refused(marker):
    frames = torch.zeros(2, 180, 320, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="one per frame"):
        marker.embed(frames, [Payload(1, 1, 0)])
    with pytest.raises(ValueError, match="Payload"):
        marker.embed(frames, [(1, 1, 0), (1, 1, 1)])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        marker.detect(frames)


def test_marking_in_place_gives_the_same_frames(marker, face_clip):
    expected = marker.embed_segment(face_clip, stream_id=3, segment=4)
    frames = face_clip.clone()
    assert marker.embed_segment(frames, stream_id=3, segment=4, out=frames) is frames
    assert torch.equal(frames, expected)
    with pytest.raises(ValueError, match="out must match"):
        marker.embed_segment(face_clip, stream_id=3, segment=4, out=torch.empty(1, 360, 640, 3, dtype=torch.uint8))


def test_strided_frames_and_out_are_marked_like_contiguous_ones(marker, face_clip):
    # Frames that arrive as an NHWC view of an NCHW tensor (no copy made by the caller).
    view = face_clip[:2].permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    assert not view.is_contiguous()
    expected = marker.embed_segment(face_clip[:2], stream_id=5, segment=6)
    assert torch.equal(marker.embed_segment(view, stream_id=5, segment=6), expected)
    assert marker.embed_segment(view, stream_id=5, segment=6, out=view) is view
    assert torch.equal(view, expected)


# A CPU marks and reads frames with OpenCV kernels, a GPU with torch ops: the two must compute the same
# canonical grid and the same change, so a mark written on one is read on the other. The torch
# functions run on CPU tensors here, as they would on CUDA ones.
@pytest.mark.parametrize("height, width", [(720, 1280), (480, 854), (640, 360)])
def test_opencv_and_torch_luminance_agree(height, width):
    frames = wm_testmedia.frames("face", 2, height, width, seed=2)
    canon_hw = engine._canon_shape(height, width)
    fast = engine._canonical_luma_cv(frames, canon_hw)
    exact = engine._canonical_luma_torch(frames, canon_hw)
    error = fast - exact
    # OpenCV rounds each pixel's luminance; area averaging (exact or fractional) shrinks that error.
    assert error.abs().max() < 1.0 and error.pow(2).mean().sqrt() < 0.3


@pytest.mark.parametrize("height, width", [(720, 1280), (480, 854)])
def test_opencv_and_torch_apply_the_same_change(height, width):
    frames = wm_testmedia.frames("texture", 2, height, width, seed=3)
    change = torch.randn(2, *engine._canon_shape(height, width)) * 4  # RMS over the cap: scaled down
    fast, exact = torch.empty_like(frames), torch.empty_like(frames)
    engine._apply_change_cv(frames, change, engine.MAX_RMS, fast)
    engine._apply_change_torch(frames, change, engine.MAX_RMS, exact)
    differ = (fast.int() - exact.int()).abs()
    assert differ.max() <= 1  # only float rounding ties
    assert differ.float().mean() < 1e-3
    delta = fast.int() - frames.int()
    inside = (frames > 20) & (frames < 235)  # away from clipping the change is the same on R, G and B
    same = (delta[..., 0] == delta[..., 1]) | ~(inside[..., 0] & inside[..., 1])
    assert same.all()
    rms = delta.float().pow(2).mean((1, 2, 3)).sqrt()
    assert (rms <= engine.MAX_RMS + 0.3).all()  # the cap, plus rounding


def _torch_pixel_path(monkeypatch):
    monkeypatch.setattr(engine, "_canonical_luma", engine._canonical_luma_torch)
    monkeypatch.setattr(engine, "_apply_change", engine._apply_change_torch)


def test_a_mark_written_by_the_torch_path_reads_on_the_opencv_path(monkeypatch, face_clip):
    marker = engine.Watermarker()
    _torch_pixel_path(monkeypatch)
    marked = marker.embed_segment(face_clip[:2], stream_id=12, segment=34)
    monkeypatch.undo()
    assert marker.detect(marked[1]).payload == Payload(12, 34, 1)


def test_a_mark_written_by_the_opencv_path_reads_on_the_torch_path(monkeypatch, face_clip):
    marker = engine.Watermarker()
    marked = marker.embed_segment(face_clip[:2], stream_id=56, segment=78)
    _torch_pixel_path(monkeypatch)
    assert marker.detect(marked[0]).payload == Payload(56, 78, 0)
    assert marker.detect_clip(marked).frame_numbers == {0: 0, 1: 1}


def test_busy_texture_reads_its_segment(marker):
    # Dense high-contrast texture: the mark must cancel content it cannot afford to flip everywhere
    # within PSNR 40 dB. Read before this by none of its frames.
    frames = wm_testmedia.frames("texture", 3, 360, 640, seed=1)
    marked = marker.embed_segment(frames, stream_id=0xBEEF, segment=9)
    assert _psnr(frames, marked) >= 40
    found = marker.detect_frames(marked, resync=False)
    read = [(d.stream_id, d.segment) for d in found if d.marked]
    assert read == [(0xBEEF, 9)] * len(read) and len(read) >= 2  # most single frames; never a wrong word
    assert marker.detect_clip(marked).segment == 9


def test_busy_texture_single_frames_survive_h264(marker):
    # On busy texture the host's mid-band energy drowns any affordable spread-spectrum signal once
    # x264 adds its noise: before busy blocks were quantised, no single frame read after CRF 28.
    frames = wm_testmedia.frames("texture", 4, 360, 640, seed=5)
    marked = marker.embed_segment(frames, stream_id=0xCAFE, segment=3)
    assert _psnr(frames, marked) >= 40
    found = marker.detect_frames(_h264(marked, crf=28), resync=False)
    assert [(d.stream_id, d.segment) for d in found] == [(0xCAFE, 3)] * 4


@pytest.mark.parametrize("kind", ["face", "texture"])
def test_embedder_and_detector_classify_blocks_alike(marker, kind):
    # A block's class (spread spectrum or quantisation) is read from coefficients the mark leaves
    # alone, so the detector sees the class the embedder chose, before and after a lossy encode.
    frames = wm_testmedia.frames(kind, 2, 360, 640, seed=4)
    marked = marker.embed_segment(frames, stream_id=5, segment=5)
    layout = marker._layout((180, 320), frames.device)

    def busy(x):
        return layout.busy_chips(layout.block_coefs(engine._canonical_luma(x, layout.canon_hw)))

    before = busy(frames)
    assert (busy(marked) == before).float().mean() >= 0.995
    assert (busy(_h264(marked, crf=28)) == before).float().mean() >= 0.99


def test_quantised_chips_read_as_their_target():
    layout = engine.Watermarker()._layout((180, 320), torch.device("cpu"))
    host = torch.randn(2, layout.chips) * 40
    target = torch.where(torch.rand(2, layout.chips) < 0.5, -1.0, 1.0)
    q = layout.quantised(host, target)
    assert (q - host).abs().max() <= engine.QIM_STEP / 2 + 1e-3  # the nearest point: moves at most half a step
    assert torch.allclose(layout.quantiser_reading(q), target, atol=1e-3)
    # A quarter step off reads nothing either way: the boundary between the two lattices.
    assert layout.quantiser_reading(q + engine.QIM_STEP / 4).abs().max() < 1e-3


@pytest.mark.parametrize("height, width", [(720, 1280), (480, 854), (360, 640)])
def test_round_trip_and_energy_on_the_canonical_grid_are_exact(height, width):
    layout = engine.Watermarker()._layout(engine._canon_shape(height, width), torch.device("cpu"))
    change = torch.randn(2, *layout.canon_hw)
    up = torch.nn.functional.interpolate(change[:, None], size=(height, width), mode="bilinear",
                                         align_corners=False)[:, 0]
    assert torch.allclose(layout.upsampled_energy(change, (height, width)), up.pow(2).sum((1, 2)), rtol=1e-4)
    hc, wc = layout.canon_hw
    seen = engine._area_weights(hc, height, up.device) @ up @ engine._area_weights(wc, width, up.device).T
    assert torch.allclose(layout.smear(change, (height, width)), seen, atol=1e-3)


def test_planned_change_fits_the_budget_so_the_cap_does_not_scale_it(marker):
    # Scaling a change down uniformly undoes part of the cancellation and flips bits: the plan itself
    # must fit, measured after upsampling.
    frames = wm_testmedia.frames("texture", 2, 720, 1280, seed=2)
    layout = marker._layout((180, 320), frames.device)
    canon = engine._canonical_luma(frames, layout.canon_hw)
    change = marker._plan_change(layout, canon, [Payload(1, 1, 0), Payload(1, 1, 1)], frame_hw=(720, 1280))
    rms = (layout.upsampled_energy(change, (720, 1280)) / (720 * 1280)).sqrt()
    assert (rms <= marker.max_rms * 1.0001).all() and (rms >= marker.max_rms * 0.95).all()  # binding, and used
