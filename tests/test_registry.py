"""Registry: the 22 published entries, aliases, suggestions, the catalogue as a DataFrame."""

import pytest

import zoo
from zoo.registry import UnknownModelError

SEED_NAMES = {
    "kinetics400": [
        "c2d_r50_8x8_kinetics400", "i3d_r50_8x8_kinetics400", "slow_r50_4x16_kinetics400",
        "slow_r50_8x8_kinetics400", "slowfast_r50_4x16_kinetics400", "slowfast_r50_8x8_kinetics400",
        "slowfast_r101_8x8_kinetics400", "slowfast_r101_16x8_kinetics400", "csn_r101_32x2_kinetics400",
        "r2plus1d_r50_16x4_kinetics400", "x3d_xs_4x12_kinetics400", "x3d_s_13x6_kinetics400",
        "x3d_m_16x5_kinetics400", "x3d_l_16x5_kinetics400", "mvit_b_16x4_kinetics400", "mvit_b_32x3_kinetics400",
    ],
    "ssv2": ["slow_r50_8x8_ssv2", "slowfast_r50_8x8_ssv2"],
    "charades": ["slow_r50_8x8_charades", "slowfast_r50_8x8_charades"],
    "ava": ["slow_r50_4x16_ava", "slowfast_r50_8x8_ava"],
}

# PyTorchVideo hub name -> the checkpoint it loads (pytorchvideo/models/hub/*.py)
HUB_ALIASES = {
    "c2d_r50": "c2d_r50_8x8_kinetics400",
    "i3d_r50": "i3d_r50_8x8_kinetics400",
    "slow_r50": "slow_r50_8x8_kinetics400",
    "slowfast_r50": "slowfast_r50_8x8_kinetics400",
    "slowfast_r101": "slowfast_r101_8x8_kinetics400",
    "slowfast_16x8_r101_50_50": "slowfast_r101_16x8_kinetics400",
    "csn_r101": "csn_r101_32x2_kinetics400",
    "r2plus1d_r50": "r2plus1d_r50_16x4_kinetics400",
    "x3d_xs": "x3d_xs_4x12_kinetics400",
    "x3d_s": "x3d_s_13x6_kinetics400",
    "x3d_m": "x3d_m_16x5_kinetics400",
    "x3d_l": "x3d_l_16x5_kinetics400",
    "mvit_base_16x4": "mvit_b_16x4_kinetics400",
    "mvit_base_32x3": "mvit_b_32x3_kinetics400",
    "slow_r50_detection": "slow_r50_4x16_ava",
    "slowfast_r50_detection": "slowfast_r50_8x8_ava",
}


# PyTorchVideo's accelerator model zoo (pytorchvideo/models/hub/efficient_x3d_mobile_cpu.py)
ACCELERATOR_ALIASES = {
    "efficient_x3d_xs": "efficient_x3d_xs_4x12_kinetics400",
    "efficient_x3d_s": "efficient_x3d_s_13x6_kinetics400",
}


# torchvision's Kinetics-400 video weights (zoo/catalog/torchvision.toml; tests/test_torchvision_entries.py)
TORCHVISION_ALIASES = {
    "r3d_18": "r3d_18_16x2_kinetics400",
    "mc3_18": "mc3_18_16x2_kinetics400",
    "r2plus1d_18": "r2plus1d_18_16x2_kinetics400",
    "s3d": "s3d_base_128x2_kinetics400",
    "mvit_v1_b": "mvit_v1b_16x4_kinetics400",
    "mvit_v2_s": "mvit_v2s_16x4_kinetics400",
    "swin3d_t": "swin3d_t_32x2_kinetics400",
    "swin3d_s": "swin3d_s_32x2_kinetics400",
    "swin3d_b": "swin3d_b_32x2_kinetics400",
    "swin3d_b_kinetics400_imagenet22k_v1": "swin3d_b22k_32x2_kinetics400",
}


@pytest.mark.parametrize("dataset", sorted(SEED_NAMES))
def test_every_published_entry_is_listed(dataset):
    extra = [*ACCELERATOR_ALIASES.values(), *TORCHVISION_ALIASES.values()] if dataset == "kinetics400" else []
    assert zoo.list_models(dataset=dataset) == sorted(SEED_NAMES[dataset] + extra)


def test_22_published_entries():
    published = [n for names in SEED_NAMES.values() for n in names]
    assert len(published) == 22
    assert set(published) <= set(zoo.list_models())


@pytest.mark.parametrize("alias,name", sorted(HUB_ALIASES.items()))
def test_hub_alias_resolves(alias, name):
    assert zoo.get_entry(alias).name == name
    assert alias in zoo.get_entry(name).aliases


def test_every_alias_is_a_hub_name():
    assert zoo.aliases() == {**HUB_ALIASES, **ACCELERATOR_ALIASES, **TORCHVISION_ALIASES}


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError) as err:
        zoo.get_entry("slowfst_r50")
    message = str(err.value)
    assert "slowfst_r50" in message and "slowfast_r50" in message
    with pytest.raises(KeyError):  # also a KeyError, for dict-like callers
        zoo.get_entry("x3d_xxl_kinetics")


def test_pattern_filter():
    assert zoo.list_models("x3d_*") == sorted(SEED_NAMES["kinetics400"][10:14])


def test_entry_fields_from_the_published_table():
    e = zoo.get_entry("slowfast_r101_16x8_kinetics400")
    assert (e.frames_x_rate, e.published, e.gflops, e.params_m) == ("16x8", {"top1": 78.70, "top5": 93.61}, 215.61, 53.77)
    assert (e.spatial_crops, e.temporal_clips) == (3, 10)
    assert e.url == "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_16x8_R101_50_50.pyth"
    mvit = zoo.get_entry("mvit_base_32x3")
    assert (mvit.spatial_crops, mvit.temporal_clips, mvit.crop_size) == (1, 5, 224)
    ssv2 = zoo.get_entry("slow_r50_8x8_ssv2")
    assert (ssv2.num_classes, ssv2.spatial_crops, ssv2.temporal_clips, ssv2.pretrain) == (174, 3, 1, "kinetics400")
    charades = zoo.get_entry("slowfast_r50_8x8_charades")
    assert charades.multilabel and charades.published == {"map": 37.24}
    ava = zoo.get_entry("slow_r50_4x16_ava")
    assert ava.gflops is None and ava.published == {"map": 19.5}


def test_catalog_dataframe_has_every_field():
    df = zoo.catalog()
    others = [*ACCELERATOR_ALIASES.values(), *TORCHVISION_ALIASES.values()]
    published = df[df.dataset.isin(SEED_NAMES) & ~df.name.isin(others)]
    assert len(published) == 22
    for column in ["name", "aliases", "arch", "depth", "dataset", "pretrain", "num_frames", "sampling_rate",
                   "crop_size", "side_size", "mean", "std", "temporal_clips", "spatial_crops", "top1", "top5",
                   "map", "gflops", "params_m", "url", "sha256", "builder"]:
        assert column in df.columns, column
    row = df.set_index("name").loc["x3d_l_16x5_kinetics400"]
    assert (row.crop_size, row.gflops, row.top1) == (356, 26.64, 77.44)
