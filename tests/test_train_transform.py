"""The training clip (zoo.input.training): seeded random choices checked against hand-computed
frames, scales, crops and flips; pixels read back from frames that carry their coordinates."""

import math

import torch
from torch.nn import functional as F

import zoo
from tests.videos import frame_number, write_index_video
from zoo.input.training import TrainSpec, clip_seed, read_train_clip

RAW = dict(mean=(0.0, 0.0, 0.0), std=(1 / 255, 1 / 255, 1 / 255))  # normalising leaves 0-255 values


def coordinate_video(frames: int, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H, W, 3): red = frame index, green = row, blue = column."""
    t = torch.arange(frames).view(-1, 1, 1).expand(frames, height, width)
    y = torch.arange(height).view(1, -1, 1).expand(frames, height, width)
    x = torch.arange(width).view(1, 1, -1).expand(frames, height, width)
    return torch.stack([t, y, x], -1).to(torch.uint8)


def test_from_entry_trains_at_the_configs_crop_and_jitter():
    """The catalogue's training crop and jitter are the entry's config's (DATA.TRAIN_CROP_SIZE,
    DATA.TRAIN_JITTER_SCALES, facebookresearch/SlowFast configs), not its test crop; without them
    (torchvision's r3d_18 at 112) the references' [256, 320] at 224 is scaled to the entry's crop.
    The demo trains as its own trainer did (benchmarks/demo/train.py): the short side at its test
    size, a random 32 crop, no flip (its classes are directions)."""
    spec = TrainSpec.from_entry(zoo.get_entry("r3d_18"))
    assert (spec.num_frames, spec.sampling_rate, spec.crop_size) == (16, 2, 112)
    assert (spec.min_scale, spec.max_scale) == (round(256 * 112 / 224), round(320 * 112 / 224)) == (128, 160)
    demo = TrainSpec.from_entry(zoo.get_entry("i3d_tiny_8x4_demo"))
    assert (demo.num_frames, demo.sampling_rate, demo.crop_size, demo.min_scale, demo.max_scale, demo.flip) == (
        8, 4, 32, 32, 32, 0.0)
    expected = {  # entry: (TRAIN_CROP_SIZE, TRAIN_JITTER_SCALES) of its config; the test crop differs
        "slowfast_r50": (224, (256, 320)), "slowfast_r101_16x8_kinetics400": (224, (256, 360)),
        "c2d_r50": (224, (256, 320)), "csn_r101": (224, (256, 320)), "r2plus1d_r50": (224, (256, 320)),
        "x3d_xs": (160, (182, 228)), "x3d_s": (160, (182, 228)), "x3d_m": (224, (256, 320)),
        "x3d_l": (312, (356, 446)), "efficient_x3d_xs": (160, (182, 228)),
        "slow_r50_8x8_charades": (224, (256, 340)), "slowfast_r50_8x8_ssv2": (224, (256, 320)),
    }
    for name, (crop, jitter) in expected.items():
        spec = TrainSpec.from_entry(zoo.get_entry(name))
        assert (spec.crop_size, (spec.min_scale, spec.max_scale)) == (crop, jitter), name
    slowfast = TrainSpec.from_entry(zoo.get_entry("slowfast_r50"))
    assert slowfast.alpha == 4 and slowfast.flip == 0.5
    assert TrainSpec.from_entry(zoo.get_entry("slow_r50_8x8_ssv2")).flip == 0.0  # DATA.RANDOM_FLIP False
    # an overridden crop scales the config's jitter with it
    small = TrainSpec.from_entry(zoo.get_entry("x3d_xs"), crop_size=32)
    assert (small.crop_size, small.min_scale, small.max_scale) == (32, round(182 * 32 / 160), round(228 * 32 / 160))


def test_x3d_heads_pool_over_the_catalogues_training_crop():
    """X3D's head pools over train_crop_size / 32 positions (the model's X3D_VARIANTS): the same
    crop the catalogue trains the entry at."""
    from zoo.models.x3d import X3D_VARIANTS

    for size in X3D_VARIANTS:
        entry = zoo.get_entry(f"x3d_{size}")
        assert entry.extra["train_crop_size"] == X3D_VARIANTS[size].train_crop_size, size


def test_seeded_choices_match_the_hand_computed_draws():
    spec = TrainSpec(8, 4, 32, 37, 46, **RAW)
    # 50 frames at 25 fps: a clip spans 8 * 4 / 30 * 25 = 26.67 frames, slack 23.33
    choice = spec.choose(50, 25.0, 48, 64, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(1, generator=gen).item()
    side = torch.randint(37, 47, (1,), generator=gen).item()
    height, width = side, math.floor(64 / 48 * side)
    y = torch.randint(0, height - 32 + 1, (1,), generator=gen).item()
    x = torch.randint(0, width - 32 + 1, (1,), generator=gen).item()
    flip = torch.rand(1, generator=gen).item() < 0.5
    span = 8 * 4 / 30 * 25
    start = u * (50 - span)
    frames = tuple(min(int(start + k * (span - 1) / 7), 49) for k in range(8))
    assert choice.frames == frames and (choice.side, choice.y, choice.x, choice.flip) == (side, y, x, flip)
    # a video shorter than the span starts at 0 and is padded with its last frame, as
    # PySlowFast's temporal_sampling does: linspace(0, 31, 8) = 0, 4.4, 8.9, 13.3, ... clamped to 9
    short = spec.choose(10, 30.0, 48, 64, torch.Generator().manual_seed(3))
    assert short.frames == (0, 4, 8, 9, 9, 9, 9, 9)


def test_crop_flip_and_frames_read_back_from_the_pixels():
    spec = TrainSpec(4, 2, 32, 48, 48, **RAW)  # the scale is the frames' own short side: no resampling
    video = coordinate_video(40, 48, 64)
    seen = set()
    for seed in range(12):
        clip, choice = spec.clip(video, 30.0, torch.Generator().manual_seed(seed))
        assert clip.shape == (3, 4, 32, 32) and choice.side == 48
        assert clip[0, :, 0, 0].tolist() == list(choice.frames)
        assert clip[1, 0, :, 0].tolist() == list(range(choice.y, choice.y + 32))
        columns = list(range(choice.x, choice.x + 32))
        assert clip[2, 0, 0, :].tolist() == (columns[::-1] if choice.flip else columns)
        seen.add(choice.flip)
    assert seen == {True, False}  # both sides of the coin came up


def test_scaling_is_the_short_side_bilinear_rule_then_the_crop():
    spec = TrainSpec(4, 2, 32, 37, 46, mean=(0.45, 0.4, 0.5), std=(0.2, 0.25, 0.3), flip=0.0)
    video = torch.randint(0, 256, (30, 48, 64, 3), dtype=torch.uint8)
    clip, c = spec.clip(video, 30.0, torch.Generator().manual_seed(5))
    assert c.side != 48
    frames = video[list(c.frames)].permute(0, 3, 1, 2).float() / 255
    scaled = F.interpolate(frames, size=(c.side, math.floor(64 / 48 * c.side)), mode="bilinear", align_corners=False)
    crop = scaled[..., c.y : c.y + 32, c.x : c.x + 32]
    expected = ((crop - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)).permute(1, 0, 2, 3)
    torch.testing.assert_close(clip, expected, atol=1e-5, rtol=1e-5)


def test_slowfast_gets_both_pathways():
    spec = TrainSpec(8, 2, 32, 48, 48, alpha=4, **RAW)
    slow, fast = spec.clip(coordinate_video(40, 48, 64), 30.0, torch.Generator().manual_seed(0))[0]
    assert fast.shape == (3, 8, 32, 32) and slow.shape == (3, 2, 32, 32)
    assert torch.equal(slow, fast[:, [0, 7]])


def test_clip_from_a_video_file_holds_the_chosen_frames(tmp_path):
    path = write_index_video(tmp_path / "index.mp4", 60, fps=30, height=48, width=96)
    spec = TrainSpec(4, 4, 32, 48, 48, **RAW)
    gen = torch.Generator().manual_seed(clip_seed(0, 1, 7))
    clip, choice, info = read_train_clip(str(path), spec, gen)
    expected = TrainSpec.choose(spec, 60, 30.0, 48, 96, torch.Generator().manual_seed(clip_seed(0, 1, 7)))
    assert choice == expected and info.video_frames == 60
    assert [frame_number(clip[:, t]) for t in range(4)] == list(choice.frames)
    assert clip_seed(0, 1, 7) != clip_seed(0, 2, 7)
