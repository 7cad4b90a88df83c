"""SlowFast family (Kinetics-400): params, key layout and outputs against PyTorchVideo."""

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_matches_reference, params_m
from zoo.models.slowfast import SlowFastParams, slowfast_backbone_blocks, slowfast_params

KINETICS_SLOWFAST = [
    "slowfast_r50_4x16_kinetics400",
    "slowfast_r50_8x8_kinetics400",
    "slowfast_r101_8x8_kinetics400",
    "slowfast_r101_16x8_kinetics400",
]


def reference(name: str, **kwargs):
    """PyTorchVideo's model for ``name``: the hub function, or create_slowfast with the
    settings of PySlowFast's configs/Kinetics/pytorchvideo/SLOWFAST_4x16_R50.yaml (no hub entry)."""
    from pytorchvideo.models import hub
    from pytorchvideo.models.net import MultiPathWayWithFuse
    from pytorchvideo.models.slowfast import create_slowfast

    if name == "slowfast_r50_4x16_kinetics400":
        kwargs.setdefault("head_pool_kernel_sizes", ((4, 7, 7), (32, 7, 7)))
        model = create_slowfast(
            model_depth=50, slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1), **kwargs
        )
    else:
        hub_name = {
            "slowfast_r50_8x8_kinetics400": "slowfast_r50",
            "slowfast_r101_8x8_kinetics400": "slowfast_r101",
            "slowfast_r101_16x8_kinetics400": "slowfast_16x8_r101_50_50",
        }[name]
        model = getattr(hub, hub_name)(**kwargs)
    # The reference overwrites the caller's [slow, fast] list in place; the comparison feeds
    # the same list to both models, so make it leave its input alone.
    for module in model.modules():
        if isinstance(module, MultiPathWayWithFuse):
            module.inplace = False
    return model


def clip(slow_frames: int, fast_frames: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, t, size, size, generator=gen) for t in (slow_frames, fast_frames)]


@pytest.mark.parametrize("name", KINETICS_SLOWFAST)
def test_params_equal_published(name):
    model = zoo.create_model(name)
    assert round(params_m(model), 2) == zoo.get_entry(name).params_m


def test_variant_settings_from_catalogue():
    p = slowfast_params(zoo.get_entry("slowfast_r50_4x16_kinetics400"))
    assert (p.alpha, p.beta_inv, p.fusion_kernel, p.head_pool_kernels()) == (8, 8, 5, ((4, 7, 7), (32, 7, 7)))
    p = slowfast_params(zoo.get_entry("slowfast_r101_16x8_kinetics400"))
    assert (p.depth, p.fusion_kernel, p.temporal_kernel_blocks) == ("r101", 5, (3, 4, 6, 3))
    assert p.head_pool_kernels() == ((16, 7, 7), (64, 7, 7))


def test_r101_50_50_temporal_kernels_only_in_first_res4_blocks():
    model = zoo.create_model("slowfast_r101_16x8_kinetics400")
    res4_slow = model.blocks[3].multipathway_blocks[0].res_blocks
    kernels = [block.branch2.conv_a.kernel_size[0] for block in res4_slow]
    assert kernels == [3] * 6 + [1] * 17


@requires_pytorchvideo
def test_small_input_matches_reference(tmp_path):
    # 64x64 crops leave a 2x2 map: the reference needs its head kernel set to fit, ours clips it
    ref = reference("slowfast_r50_8x8_kinetics400", head_pool_kernel_sizes=((2, 2, 2), (8, 2, 2)))
    assert_matches_reference("slowfast_r50_8x8_kinetics400", ref, clip(2, 8, 64), tmp_path)


@requires_pytorchvideo
def test_pyslowfast_layout_loads(tmp_path, torch_home):
    """PySlowFast's PTVSlowFast wrapper stores the same tree under ``model.``."""
    ref = reference("slowfast_r50_4x16_kinetics400", head_pool_kernel_sizes=((1, 2, 2), (8, 2, 2)))
    assert_matches_reference("slowfast_r50_4x16_kinetics400", ref, clip(1, 8, 64), tmp_path, prefix="model.", source="file_url")


@requires_pytorchvideo
def test_input_list_is_left_unchanged():
    model = zoo.create_model("slowfast_r50").eval()
    inputs = clip(2, 8, 32)
    before = [t.clone() for t in inputs]
    with torch.no_grad():
        model(inputs)
    assert len(inputs) == 2 and all(torch.equal(a, b) for a, b in zip(inputs, before))


def test_tensor_input_is_rejected_with_a_hint():
    model = zoo.create_model("slowfast_r50").eval()
    with pytest.raises(TypeError, match=r"\[slow, fast\]"):
        model(torch.zeros(1, 3, 8, 32, 32))


def test_backbone_blocks_for_detection():
    """The AVA detector's backbone: res5 undilated/dilated strides, width of both pathways."""
    blocks, width = slowfast_backbone_blocks(SlowFastParams(), spatial_strides=(1, 2, 2, 1), conv_b_dilations=((1, 1, 1),) * 3 + ((1, 2, 2),))
    assert width == 2048 + 256 and len(blocks) == 5
    x = clip(2, 8, 64)
    with torch.no_grad():
        for block in blocks:
            x = block.eval()(x)
    assert [tuple(t.shape) for t in x] == [(1, 2048, 2, 4, 4), (1, 256, 8, 4, 4)]
    res5_conv_b = blocks[4].multipathway_blocks[0].res_blocks[0].branch2.conv_b
    assert res5_conv_b.dilation == (1, 2, 2) and res5_conv_b.padding == (0, 2, 2)


FULL_SIZE = {  # (slow frames, fast frames) of the published test clips, 256x256 crops
    "slowfast_r50_4x16_kinetics400": (4, 32),
    "slowfast_r50_8x8_kinetics400": (8, 32),
    "slowfast_r101_8x8_kinetics400": (8, 32),
    "slowfast_r101_16x8_kinetics400": (16, 64),
}


@pytest.mark.slow
@requires_pytorchvideo
@pytest.mark.parametrize("name", KINETICS_SLOWFAST)
def test_published_input_matches_reference(name, tmp_path):
    entry = zoo.get_entry(name)
    slow, fast = FULL_SIZE[name]
    assert (fast, slow) == (entry.num_frames, entry.num_frames // entry.alpha)
    diff = assert_matches_reference(name, reference(name), clip(slow, fast, entry.crop_size), tmp_path)
    print(f"{name}: max abs diff {diff:.3g}")
