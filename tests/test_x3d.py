"""X3D XS/S/M/L: params, key layout and outputs against the reference (PyTorchVideo hub)."""

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_logits_match, assert_matches_reference, params_m

X3D_ENTRIES = ["x3d_xs_4x12_kinetics400", "x3d_s_13x6_kinetics400", "x3d_m_16x5_kinetics400", "x3d_l_16x5_kinetics400"]


def _hub_reference(name, **kwargs):
    from pytorchvideo.models import hub

    return getattr(hub, zoo.get_entry(name).aliases[0])(**kwargs)


@pytest.mark.parametrize("name", X3D_ENTRIES)
def test_params_equal_published(name):
    assert round(params_m(zoo.create_model(name)), 2) == zoo.get_entry(name).params_m


@pytest.mark.parametrize(
    "name, depths",
    # X3D paper, Table 3 (and the released models): XS/S/M have 3, 5, 11, 7 blocks; L 5, 10, 25, 15.
    [("x3d_xs_4x12_kinetics400", (3, 5, 11, 7)), ("x3d_m_16x5_kinetics400", (3, 5, 11, 7)), ("x3d_l_16x5_kinetics400", (5, 10, 25, 15))],
)
def test_stage_depths_and_widths(name, depths):
    model = zoo.create_model(name)
    stages = model.blocks[1:5]
    assert tuple(len(s.res_blocks) for s in stages) == depths
    assert [s.res_blocks[0].branch2.conv_c.out_channels for s in stages] == [24, 48, 96, 192]
    assert [s.res_blocks[0].branch2.conv_b.out_channels for s in stages] == [54, 108, 216, 432]
    # squeeze-excitation in the 1st, 3rd, ... block of every stage only
    has_se = [not isinstance(b.branch2.norm_b[1], torch.nn.Identity) for b in stages[2].res_blocks]
    assert has_se == [i % 2 == 0 for i in range(depths[2])]


@requires_pytorchvideo
@pytest.mark.parametrize("name", X3D_ENTRIES)
def test_state_dict_layout_equals_published_files(name):
    ours, ref = zoo.create_model(name).state_dict(), _hub_reference(name).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)


def _published_input(name):
    e = zoo.get_entry(name)
    return torch.randn(1, 3, e.num_frames, e.crop_size, e.crop_size)


@requires_pytorchvideo
def test_xs_outputs_equal_reference_at_published_input(tmp_path):
    # 4x182x182 is cheap: no slow mark
    name = "x3d_xs_4x12_kinetics400"
    x = _published_input(name)
    diff = assert_matches_reference(name, _hub_reference(name), x, tmp_path)
    logits_diff = assert_logits_match(name, _hub_reference(name), x, tmp_path)
    print(f"{name}: max abs diff {diff:.3g} (logits {logits_diff:.3g})")


@requires_pytorchvideo
@pytest.mark.slow
@pytest.mark.parametrize("name", X3D_ENTRIES[1:])
def test_outputs_equal_reference_at_published_input(name, tmp_path):
    x = _published_input(name)
    diff = assert_matches_reference(name, _hub_reference(name), x, tmp_path)
    logits_diff = assert_logits_match(name, _hub_reference(name), x, tmp_path)
    print(f"{name}: max abs diff {diff:.3g} (logits {logits_diff:.3g})")


@requires_pytorchvideo
@pytest.mark.parametrize("name, depth_factor", [("x3d_xs_4x12_kinetics400", 2.2), ("x3d_l_16x5_kinetics400", 5.0)])
def test_small_input_equals_reference_with_input_sized_head(name, depth_factor, tmp_path):
    # The hub models cannot run on 4x64x64 (their head pool kernel is larger than the 2x2
    # feature map). The same network built for that clip size has a (4, 2, 2) kernel, which is
    # what our clipped kernel becomes: the outputs must be equal.
    from pytorchvideo.models.x3d import create_x3d

    def reference():
        return create_x3d(input_clip_length=4, input_crop_size=64, depth_factor=depth_factor)

    x = torch.randn(2, 3, 4, 64, 64)
    assert_matches_reference(name, reference(), x, tmp_path)
    # the softmax outputs are all close to 1/400; the logits show a wrong network
    assert_logits_match(name, reference(), x, tmp_path)


@requires_pytorchvideo
def test_hub_reference_fails_where_ours_clips_the_head_kernel():
    x = torch.randn(1, 3, 4, 64, 64)
    with pytest.raises(RuntimeError):
        _hub_reference("x3d_xs").eval()(x)
    out = zoo.create_model("x3d_xs")(x)
    assert out.shape == (1, 400)
    # the head ends in softmax: every view's scores are a distribution
    torch.testing.assert_close(out.sum(1), torch.ones(1))


def test_num_classes_override():
    assert zoo.create_model("x3d_s", num_classes=7)(torch.randn(1, 3, 4, 64, 64)).shape == (1, 7)
