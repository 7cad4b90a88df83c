"""Efficient X3D-XS/S (PyTorchVideo's accelerator zoo): layout, weights and outputs against the reference."""

import pytest
import torch

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import params_m, randomize_norm_stats

ENTRIES = ["efficient_x3d_xs_4x12_kinetics400", "efficient_x3d_s_13x6_kinetics400"]


def _hub_reference(name):
    from pytorchvideo.models.hub import efficient_x3d_mobile_cpu

    return getattr(efficient_x3d_mobile_cpu, zoo.get_entry(name).aliases[0])()


@pytest.mark.parametrize("name", ENTRIES)
def test_params_equal_published(name):
    assert round(params_m(zoo.create_model(name)), 1) == zoo.get_entry(name).params_m  # 3.8 (3.79 M)


def test_catalogue_holds_the_published_figures_and_protocol():
    xs, s = (zoo.get_entry(name) for name in ENTRIES)
    assert (xs.published, s.published) == ({"top1": 68.5, "top5": 88.0}, {"top1": 73.0, "top5": 90.6})
    assert (xs.temporal_clips, xs.spatial_crops, xs.crop_size, xs.frames_x_rate) == (10, 1, 182, "4x12")
    assert (xs.extra["latency_ms_fp32"], xs.extra["latency_ms_int8"], xs.extra["latency_ms_vanilla_fp32"]) == (233, 165, 1067)
    assert xs.url.endswith("/kinetics/efficient_x3d_xs_original_form.pyth") and zoo.get_entry("efficient_x3d_s") is s


@requires_pytorchvideo
@pytest.mark.parametrize("name", ENTRIES)
def test_state_dict_layout_equals_published_files(name):
    ours, ref = zoo.create_model(name).state_dict(), _hub_reference(name).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ref)


@requires_pytorchvideo
@pytest.mark.parametrize("name", ENTRIES)
def test_outputs_equal_reference_from_a_bare_state_dict_file(name, tmp_path):
    # the published files are bare state dicts (the hub calls load_state_dict on them directly)
    reference = randomize_norm_stats(_hub_reference(name)).eval()
    path = tmp_path / "original_form.pyth"
    torch.save(reference.state_dict(), path)
    ours = zoo.create_model(name, checkpoint=path.as_uri(), progress=False)
    entry = zoo.get_entry(name)
    # the published clip for XS (cheap); a smaller one for S: the head pools globally, any size runs
    size = (entry.num_frames, entry.crop_size) if entry.depth == "xs" else (8, 96)
    x = torch.randn(2, 3, size[0], size[1], size[1])
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert actual.shape == (2, 400)
    diff = (actual - expected).abs().max().item()
    assert diff <= 1e-4 * expected.abs().max().item(), f"max abs difference {diff:g}"
    # the hub's head activation is the identity: logits, which the evaluation softmaxes
    from zoo.scoring import output_activation

    assert output_activation(ours) == "logits" and expected.abs().max() > 1e-2


def test_training_mode_output_and_head_swap():
    model = zoo.create_model("efficient_x3d_xs", num_classes=7).train()
    assert model(torch.randn(2, 3, 4, 64, 64)).shape == (2, 7)
