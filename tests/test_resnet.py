"""ResNet family (C2D, I3D, Slow): params, key layout and outputs against the reference."""

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_matches_reference, params_m

RESNET_ENTRIES = ["c2d_r50_8x8_kinetics400", "i3d_r50_8x8_kinetics400", "slow_r50_4x16_kinetics400", "slow_r50_8x8_kinetics400"]


@pytest.mark.parametrize("name", RESNET_ENTRIES)
def test_params_equal_published(name):
    model = zoo.create_model(name)
    assert round(params_m(model), 2) == zoo.get_entry(name).params_m


def _reference(name):
    from pytorchvideo.models import hub
    from pytorchvideo.models.resnet import create_resnet

    if name == "slow_r50_4x16_kinetics400":  # not a hub function: the hub's slow_r50 with a 4-frame head
        return create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(4, 7, 7), model_depth=50)
    alias = zoo.get_entry(name).aliases[0]
    return getattr(hub, alias)()


@requires_pytorchvideo
@pytest.mark.parametrize("name", RESNET_ENTRIES)
def test_state_dict_layout_equals_published_files(name):
    ours, ref = zoo.create_model(name).state_dict(), _reference(name).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)


@requires_pytorchvideo
@pytest.mark.parametrize("name", RESNET_ENTRIES)
def test_outputs_equal_reference_at_published_input(name, tmp_path):
    e = zoo.get_entry(name)
    x = torch.randn(1, 3, e.num_frames, e.crop_size, e.crop_size)
    diff = assert_matches_reference(name, _reference(name), x, tmp_path)
    print(f"{name}: max abs diff {diff:.3g}")


@requires_pytorchvideo
def test_file_url_checkpoint_equals_reference(tmp_path, torch_home):
    x = torch.randn(1, 3, 8, 224, 224)
    assert_matches_reference("c2d_r50_8x8_kinetics400", _reference("c2d_r50_8x8_kinetics400"), x, tmp_path, source="file_url")
    assert list((torch_home / "hub" / "checkpoints").rglob("c2d_r50_8x8_kinetics400.pyth"))


def test_small_inputs_run():
    # the fixed 7x7 head pool is clipped on inputs smaller than the training crop
    model = zoo.create_model("i3d_r50")
    assert model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 400)


def test_num_classes_override():
    assert zoo.create_model("slow_r50", num_classes=7)(torch.randn(1, 3, 4, 32, 32)).shape == (1, 7)
