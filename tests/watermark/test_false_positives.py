"""No unmarked frame may read as marked: 2,400 frames of varied content, plus frames marked otherwise."""
import pytest
import torch

from watermark import compat, engine, wm_testmedia


def _varied_unmarked(count: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1234)
    h, w = 180, 320
    kinds = []
    per = count // 6
    kinds.append(torch.randint(0, 256, (per, h, w, 3), generator=gen, dtype=torch.uint8))  # white noise
    for cells in (4, 16, 64):  # smooth random fields at three scales
        coarse = torch.rand(per, 3, cells, cells * 16 // 9 + 1, generator=gen) * 255
        kinds.append(torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic").clamp(0, 255)
                     .to(torch.uint8).permute(0, 2, 3, 1))
    flat = torch.rand(per, 1, 1, 3, generator=gen) * 255  # flat colours, including black and white
    flat[0], flat[1] = 0, 255
    kinds.append(flat.expand(per, h, w, 3).to(torch.uint8))
    rest = count - 5 * per
    # Synthetic scenes, varied cheaply by shifts and brightness offsets.
    base = torch.cat([wm_testmedia.frames(k, 2, h, w, seed=5) for k in wm_testmedia.KINDS])
    shifts = torch.randint(0, w, (rest,), generator=gen)
    offsets = torch.randint(-40, 41, (rest,), generator=gen)
    kinds.append(torch.stack([
        (torch.roll(base[i % len(base)], int(shifts[i]), dims=1).short() + int(offsets[i])).clamp(0, 255).to(torch.uint8)
        for i in range(rest)
    ]))
    return torch.cat(kinds)


def test_no_false_positive_on_2400_unmarked_frames(marker):
    frames = _varied_unmarked(2400)
    assert frames.shape[0] == 2400
    found = marker.detect_frames(frames, resync=False)
    assert not any(d.marked for d in found)


def test_resync_path_finds_nothing_on_unmarked_or_foreign_marks(marker):
    frames = _varied_unmarked(60)[::15]
    foreign = compat.embed(wm_testmedia.frames("face", 1, 360, 640, seed=8), b"\x12\x34\x56\x78")
    other_key = engine.Watermarker(key="other").embed_segment(frames[:1], stream_id=1, segment=1)
    for frame in [*frames, *foreign, *other_key]:
        assert not marker.detect(frame).marked


@pytest.mark.parametrize("height, width", [(360, 640), (480, 854)])
def test_pitch_crop_search_finds_nothing_on_unmarked_or_foreign_crops(marker, height, width):
    # 90 % of 360p or of 480p (a fractional pitch): the search at the source's pitch runs on every one.
    scenes = torch.nn.functional.interpolate(
        _varied_unmarked(60)[::6].permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear"
    ).round().to(torch.uint8).permute(0, 2, 3, 1)
    texture = wm_testmedia.frames("texture", 2, height, width, seed=9)
    other_key = engine.Watermarker(key="other").embed_segment(texture, stream_id=1, segment=1)
    top, left = round(0.047 * height), round(0.064 * width)
    for frame in [*scenes, *texture, *other_key]:
        assert not marker.detect(frame[top:top + round(0.9 * height), left:left + round(0.9 * width)]).marked
