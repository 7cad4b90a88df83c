"""zoo.transforms: frame indices and crops against hand-computed values (and pytorchvideo)."""

import dataclasses

import pytest
import torch
from torch.nn import functional as F

import zoo
from tests.conftest import requires_pytorchvideo
from zoo.transforms import (
    InputSpec,
    clip_indices,
    crop_offset,
    pack_pathways,
    parse_views,
    segment_indices,
    short_side_scale,
    slow_indices,
    uniform_crop,
)


def spec(**kw):
    base = dict(num_frames=4, sampling_rate=5, side_size=48, crop_size=48, mean=(0.0,) * 3, std=(1.0,) * 3)
    base.update(kw)
    return InputSpec(**base)


def test_clip_indices_30fps_three_clips():
    # span 4 x 5 = 20 frames at 30 fps; slack 80; starts 0, 40, 80; linspace(s, s+19, 4)
    got = [c.tolist() for c in spec(temporal_clips=3).clip_indices(100, fps=30.0)]
    assert got == [[0, 6, 12, 19], [40, 46, 52, 59], [80, 86, 92, 99]]


def test_clip_indices_25fps_converts_the_span():
    # span 20/30*25 = 16.67 frames; slack 83.33 -> step floor(41.67) = 41; linspace(s, s+15.67, 4)
    got = [c.tolist() for c in spec(temporal_clips=3).clip_indices(100, fps=25.0)]
    assert got == [[0, 5, 10, 15], [41, 46, 51, 56], [82, 87, 92, 97]]


def test_single_clip_is_centred():
    # slack 80 -> start 40
    assert spec().clip_indices(100, fps=30.0)[0].tolist() == [40, 46, 52, 59]


def test_short_video_is_clamped():
    # 10 frames, span 20: start 0, linspace(0, 19, 4) = 0, 6.33, 12.67, 19 -> clamped to 9
    assert spec(temporal_clips=2).clip_indices(10, fps=30.0)[1].tolist() == [0, 6, 9, 9]


def test_ten_clips_cover_the_video():
    clips = clip_indices(300, 48.0, 4, 9, 10)  # X3D-XS 4x12 on 10 s at 30 fps, last clip
    # slack 252, step 28, start 252, linspace(252, 299, 4)
    assert clips.tolist() == [252, 267, 283, 299]


def test_segments_rule_for_ssv2():
    s = InputSpec.from_entry(zoo.get_entry("slow_r50_8x8_ssv2"))
    assert s.temporal_rule == "segments" and (s.temporal_clips, s.spatial_crops) == (1, 3)
    # 41 frames, 8 segments of 5: (round(5i) + round(5i+5)) // 2
    assert s.clip_indices(41, fps=12.0)[0].tolist() == [2, 7, 12, 17, 22, 27, 32, 37]
    assert segment_indices(41, 8).tolist() == [2, 7, 12, 17, 22, 27, 32, 37]


def test_views_from_entry_and_override():
    e = zoo.get_entry("x3d_xs")
    s = InputSpec.from_entry(e)
    assert (s.temporal_clips, s.spatial_crops, s.side_size, s.crop_size, s.alpha) == (10, 3, 182, 182, None)
    assert InputSpec.from_entry(e, views="2x1").num_views == 2
    m = InputSpec.from_entry(zoo.get_entry("mvit_base_16x4"))
    assert (m.temporal_clips, m.spatial_crops) == (5, 1)
    assert parse_views("10x3") == (10, 3)
    with pytest.raises(ValueError, match="CLIPSxCROPS"):
        parse_views("ten")


def test_crop_offsets_landscape_and_portrait():
    # 42 wide, 32 high, crop 32: x = 0, ceil(10/2) = 5, 10
    assert [crop_offset(32, 42, 32, i) for i in range(3)] == [(0, 0), (0, 5), (0, 10)]
    # portrait 32 wide, 43 high: y = 0, ceil(11/2) = 6, 11
    assert [crop_offset(43, 32, 32, i) for i in range(3)] == [(0, 0), (6, 0), (11, 0)]


def test_views_hold_hand_computed_regions_and_normalisation():
    # 8 frames of 48x64; pixel value encodes (frame, x): the view must be exactly the crop.
    t, h, w = 8, 48, 64
    x = torch.arange(w).view(1, 1, w, 1).expand(t, h, w, 3)
    frame = torch.arange(t).view(t, 1, 1, 1).expand(t, h, w, 3)
    frames = (frame * 20 + x).to(torch.uint8)
    s = spec(num_frames=2, sampling_rate=15, side_size=48, crop_size=48, temporal_clips=1, spatial_crops=3,
             mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    views = s.views(frames, fps=30.0)  # span 30 frames > 8: clamped, centred start 0 -> [0, 7]
    assert views.shape == (3, 3, 2, 48, 48)
    pixels = (views * 0.25 + 0.5) * 255
    for crop, x0 in enumerate((0, 8, 16)):  # ceil((64-48)/2) = 8
        expected = torch.tensor([0, 7]).view(2, 1, 1) * 20 + torch.arange(x0, x0 + 48).view(1, 1, 48)
        torch.testing.assert_close(pixels[crop, 0], expected.float().expand(2, 48, 48), atol=1e-3, rtol=0)


def test_scaling_matches_interpolate_then_crop():
    frames = torch.randint(0, 256, (3, 48, 64, 3), dtype=torch.uint8)
    s = spec(num_frames=3, sampling_rate=1, side_size=32, crop_size=32, temporal_clips=1, spatial_crops=3)
    views = s.views(frames, fps=30.0)
    idx = s.clip_indices(3, 30.0)[0]
    full = F.interpolate(frames.permute(0, 3, 1, 2).float() / 255, size=(32, 42), mode="bilinear", align_corners=False)
    for crop, x0 in enumerate((0, 5, 10)):  # long side floor(64/48*32) = 42
        torch.testing.assert_close(views[crop], full[idx, :, :, x0 : x0 + 32].permute(1, 0, 2, 3))


def test_slowfast_pathways():
    e = zoo.get_entry("slowfast_r50")  # fast 32 frames, alpha 4
    assert slow_indices(32, 4).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    s = dataclasses.replace(InputSpec.from_entry(e, views="1x1"), side_size=32, crop_size=32)
    frames = torch.arange(64).view(64, 1, 1, 1).expand(64, 32, 40, 3).to(torch.uint8)
    slow, fast = s.views(frames, fps=30.0)
    assert fast.shape == (1, 3, 32, 32, 32) and slow.shape == (1, 3, 8, 32, 32)
    torch.testing.assert_close(slow, fast[:, :, slow_indices(32, 4)])
    a, b = pack_pathways(torch.zeros(2, 3, 8, 4, 4), 4)
    assert a.shape[2] == 2 and b.shape[2] == 8


@requires_pytorchvideo
def test_spatial_ops_match_pytorchvideo():
    # Load the module file alone: pytorchvideo.transforms/__init__ imports a torchvision module
    # that newer torchvision releases removed.
    import importlib.util

    origin = importlib.util.find_spec("pytorchvideo").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("ptv_functional", f"{origin}/transforms/functional.py")
    functional = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(functional)
    ref_scale, ref_crop = functional.short_side_scale, functional.uniform_crop

    clip = torch.rand(3, 2, 45, 70)  # (C, T, H, W)
    ours = short_side_scale(clip.permute(1, 0, 2, 3), 32).permute(1, 0, 2, 3)
    ref = ref_scale(clip, 32)
    torch.testing.assert_close(ours, ref)
    for i in range(3):
        torch.testing.assert_close(uniform_crop(ours, 32, i), ref_crop(ref, 32, i))


def test_slowfast_pathways_come_in_one_block_with_the_slow_frames_of_the_fast_pathway():
    import dataclasses

    import zoo
    from zoo.transforms import InputSpec, pack_pathways, views_allocated_by

    entry = dataclasses.replace(zoo.get_entry("slowfast_r50"), side_size=32, crop_size=32)
    spec = InputSpec.from_entry(entry, "2x3")
    frames = torch.randint(0, 256, (90, 40, 50, 3), dtype=torch.uint8)
    asked = []
    with views_allocated_by(lambda shape: asked.append(shape) or torch.empty(shape)):
        slow, fast = spec.views(frames, fps=30.0)
    assert asked == [(6 * 3 * 32 * 32 * 32 + 6 * 3 * 8 * 32 * 32,)]  # fast, then slow, in one block
    assert slow.untyped_storage().data_ptr() == fast.untyped_storage().data_ptr()
    assert torch.equal(slow, pack_pathways(fast.clone(), spec.alpha)[0]) and slow.is_contiguous()
