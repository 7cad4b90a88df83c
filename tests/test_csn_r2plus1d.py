"""CSN R101 32x2 and R(2+1)D R50 16x4: params, key layout and outputs against the reference."""

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_logits_match, assert_matches_reference, params_m

ENTRIES = ["csn_r101_32x2_kinetics400", "r2plus1d_r50_16x4_kinetics400"]


def _hub_reference(name):
    from pytorchvideo.models import hub

    return getattr(hub, zoo.get_entry(name).aliases[0])()


def _reference_with_head_kernel(name, head_pool_kernel_size):
    """The hub network, with the head pooling kernel set for a smaller input."""
    from pytorchvideo.models.csn import create_csn
    from pytorchvideo.models.r2plus1d import create_r2plus1d

    if name.startswith("csn"):  # as hub.csn_r101
        return create_csn(model_depth=101, stem_pool=torch.nn.MaxPool3d, head_pool_kernel_size=head_pool_kernel_size)
    return create_r2plus1d(dropout_rate=0.5, head_pool_kernel_size=head_pool_kernel_size)  # as hub.r2plus1d_r50


@pytest.mark.parametrize("name", ENTRIES)
def test_params_equal_published(name):
    assert round(params_m(zoo.create_model(name)), 2) == zoo.get_entry(name).params_m


@requires_pytorchvideo
@pytest.mark.parametrize("name", ENTRIES)
def test_state_dict_layout_equals_published_files(name):
    ours, ref = zoo.create_model(name).state_dict(), _hub_reference(name).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)


def test_csn_conv_b_is_depthwise_and_strides_time():
    stage = zoo.create_model("csn_r101").blocks[2]
    conv_b = stage.res_blocks[0].branch2.conv_b
    assert conv_b.groups == conv_b.in_channels == 128
    assert conv_b.stride == (2, 2, 2)


def test_r2plus1d_conv_b_is_factored():
    conv_b = zoo.create_model("r2plus1d_r50").blocks[3].res_blocks[0].branch2.conv_b
    assert conv_b.conv_t.kernel_size == (3, 1, 1) and conv_b.conv_t.stride == (2, 1, 1)
    assert conv_b.conv_xy.kernel_size == (1, 3, 3) and conv_b.conv_xy.stride == (1, 2, 2)


@requires_pytorchvideo
@pytest.mark.parametrize("name, frames", [("csn_r101_32x2_kinetics400", 8), ("r2plus1d_r50_16x4_kinetics400", 4)])
def test_small_input_equals_reference_with_input_sized_head(name, frames, tmp_path):
    # At frames x 64 x 64 both networks end on a 1x2x2 map, smaller than the hub heads' (4, 7, 7)
    # kernel; our clipped kernel must then equal a reference built with a (1, 2, 2) kernel.
    x = torch.randn(2, 3, frames, 64, 64)
    assert_matches_reference(name, _reference_with_head_kernel(name, (1, 2, 2)), x, tmp_path)
    # R(2+1)D's softmax outputs are all close to 1/400; the logits show a wrong network
    assert_logits_match(name, _reference_with_head_kernel(name, (1, 2, 2)), x, tmp_path)


@requires_pytorchvideo
@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRIES)
def test_outputs_equal_reference_at_published_input(name, tmp_path):
    e = zoo.get_entry(name)
    x = torch.randn(1, 3, e.num_frames, e.crop_size, e.crop_size)
    diff = assert_matches_reference(name, _hub_reference(name), x, tmp_path)
    if name.startswith("r2plus1d"):  # its head ends in softmax: compare the logits too
        logits_diff = assert_logits_match(name, _hub_reference(name), x, tmp_path)
        print(f"{name}: max abs diff {diff:.3g} (logits {logits_diff:.3g})")
    else:
        print(f"{name}: max abs diff {diff:.3g}")


def test_r2plus1d_scores_are_averaged_softmax():
    out = zoo.create_model("r2plus1d_r50")(torch.randn(1, 3, 4, 64, 64))
    torch.testing.assert_close(out.sum(1), torch.ones(1))


@pytest.mark.parametrize("name", ENTRIES)
def test_num_classes_override(name):
    assert zoo.create_model(name, num_classes=7)(torch.randn(1, 3, 8, 64, 64)).shape == (1, 7)
