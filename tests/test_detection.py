"""AVA detectors (Slow R50 4x16, SlowFast R50 8x8): params, equivalence with PyTorchVideo's hub
models, and the checkpoint key layouts they are published in."""

from functools import partial

import pytest
import torch
from torch import nn

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_matches_reference, params_m, randomize_norm_stats, write_published_checkpoint
from zoo.checkpoints import CheckpointMismatchError

SLOW, SLOWFAST = "slow_r50_4x16_ava", "slowfast_r50_8x8_ava"

#: Exact parameter counts of the hub models (backbone with dilated res5, plus a 2048->80 or
#: 2304->80 linear layer), which the published files determine.
PARAM_COUNTS = {SLOW: 31_798_416, SLOWFAST: 33_828_888}


def hub_reference(name):
    from pytorchvideo.models import hub

    reference = {SLOW: hub.slow_r50_detection, SLOWFAST: hub.slowfast_r50_detection}[name]()
    # PyTorchVideo's multi-pathway blocks write their outputs into the caller's input list;
    # hand it a copy so the same inputs can be fed to our model afterwards.
    reference.register_forward_pre_hook(lambda _, args: (list(args[0]), *args[1:]) if isinstance(args[0], list) else None)
    return reference


def boxes_for(size: int) -> torch.Tensor:
    """Boxes on both clips of a batch of 2, in pixels: whole frame, off-grid, thin and tiny."""
    s = float(size)
    return torch.tensor(
        [
            [0, 0, 0, s - 1, s - 1],
            [0, 0.13 * s, 0.27 * s, 0.61 * s, 0.95 * s],
            [1, 0.5 * s, 0.05 * s, 0.58 * s, 0.9 * s],
            [1, 0.3 * s, 0.3 * s, 0.33 * s, 0.34 * s],
        ]
    )


def clip_for(name: str, size: int, batch: int = 2):
    entry = zoo.get_entry(name)
    if entry.alpha:  # SlowFast: num_frames is the fast pathway's clip
        return [torch.randn(batch, 3, entry.num_frames // entry.alpha, size, size), torch.randn(batch, 3, entry.num_frames, size, size)]
    return torch.randn(batch, 3, entry.num_frames, size, size)


@pytest.mark.parametrize("name", [SLOW, SLOWFAST])
def test_params_are_the_published_models(name):
    entry = zoo.get_entry(name)
    model = zoo.create_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAM_COUNTS[name]
    # The published table lists 31.78 / 33.82 M, 0.02 / 0.01 M below the published files'
    # own count; the catalogue says so rather than pretending to match.
    assert abs(params_m(model) - entry.params_m) <= 0.02
    assert f"{count:,}" in entry.note


@requires_pytorchvideo
@pytest.mark.parametrize("name", [SLOW, SLOWFAST])
def test_params_equal_reference(name):
    reference = hub_reference(name)
    assert sum(p.numel() for p in reference.parameters()) == PARAM_COUNTS[name]


@requires_pytorchvideo
@pytest.mark.parametrize("name", [SLOW, SLOWFAST])
def test_matches_reference_small_input(name, tmp_path):
    inputs = (clip_for(name, 64), boxes_for(64))
    diff = assert_matches_reference(name, hub_reference(name), inputs, tmp_path)
    print(f"{name} 64x64: max abs diff {diff:g}")


@requires_pytorchvideo
@pytest.mark.slow
@pytest.mark.parametrize("name", [SLOW, SLOWFAST])
def test_matches_reference_published_input(name, tmp_path):
    inputs = (clip_for(name, 256, batch=1), boxes_for(256)[:2])
    diff = assert_matches_reference(name, hub_reference(name), inputs, tmp_path)
    print(f"{name} 256x256: max abs diff {diff:g}")


def test_scores_one_row_per_box_in_unit_interval():
    model = zoo.create_model(SLOW)
    scores = model(torch.randn(2, 3, 4, 64, 64), boxes_for(64))
    assert scores.shape == (4, 80)
    assert ((scores > 0) & (scores < 1)).all()  # independent sigmoid scores (multi-label)
    # a box only sees its own clip: changing clip 1 leaves clip 0's boxes unchanged
    clip = torch.randn(2, 3, 4, 64, 64)
    other = clip.clone()
    other[1] = torch.randn(3, 4, 64, 64)
    a, b = model(clip, boxes_for(64)), model(other, boxes_for(64))
    assert torch.equal(a[:2], b[:2]) and not torch.allclose(a[2:], b[2:])


def test_boxes_must_be_k_by_5():
    model = zoo.create_model(SLOW)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        model(torch.randn(1, 3, 4, 64, 64), torch.tensor([[0.0, 0, 10, 10]]))


def pyslowfast_ptv_detector(aligned: bool) -> nn.Module:
    """The key layout of PySlowFast's ``PTVResNet`` with ``DETECTION.ENABLE`` (slowfast/models/
    ptv_model_builder.py): the RoI head is ``self.detection_head`` (created first) and the
    backbone ``self.model`` (``create_resnet(head=None)``); ``post_act`` (sigmoid) holds no
    weights. PySlowFast passes detectron2's ROIAlign (aligned=True by default); torchvision's
    with the same setting stands in for it here."""
    from pytorchvideo.models.head import create_res_roi_pooling_head
    from pytorchvideo.models.resnet import create_resnet
    from torchvision.ops import RoIAlign

    class PTVResNetDetection(nn.Module):
        def __init__(self):
            super().__init__()
            self.detection_head = create_res_roi_pooling_head(
                in_features=2048, out_features=80, pool=nn.AvgPool3d, output_size=(1, 1, 1), pool_kernel_size=(4, 1, 1),
                dropout_rate=0.5, activation=None, output_with_global_average=False, pool_spatial=nn.MaxPool2d,
                resolution=[7, 7], spatial_scale=1.0 / 16, sampling_ratio=0, roi=partial(RoIAlign, aligned=aligned),
            )  # fmt: skip
            self.model = create_resnet(
                stem_conv_kernel_size=(1, 7, 7), stage_conv_a_kernel_size=((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
                stage_conv_b_dilation=((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
                stage_spatial_h_stride=(1, 2, 2, 1), stage_spatial_w_stride=(1, 2, 2, 1), head=None,
            )  # fmt: skip
            self.post_act = nn.Sigmoid()

        def forward(self, x, bboxes):
            return self.post_act(self.detection_head(self.model(x), bboxes)).flatten(1)

    return PTVResNetDetection()


@requires_pytorchvideo
@pytest.mark.parametrize("aligned", [False, True])
def test_pyslowfast_wrapper_layout_loads(tmp_path, aligned):
    wrapper = randomize_norm_stats(pyslowfast_ptv_detector(aligned)).eval()
    path = tmp_path / "pyslowfast.pyth"
    write_published_checkpoint(wrapper, path)
    # Same names as the hub files (model.* and detection_head.*), only in another order.
    assert set(wrapper.state_dict()) == set(hub_reference(SLOW).state_dict())
    assert list(wrapper.state_dict())[0].startswith("detection_head.")
    ours = zoo.create_model(SLOW, checkpoint=str(path), roi_aligned=aligned, progress=False)
    clip, boxes = clip_for(SLOW, 64), boxes_for(64)
    with torch.no_grad():
        expected, actual = wrapper(clip, boxes), ours(clip, boxes)
    assert (expected - actual).abs().max().item() <= 1e-4


def test_aligned_roi_changes_scores():
    """roi_aligned picks the RoIAlign convention; it is not a no-op (half-pixel shift)."""
    torch.manual_seed(0)
    plain = zoo.create_model(SLOW)
    aligned = zoo.create_model(SLOW, roi_aligned=True)
    aligned.load_state_dict(plain.state_dict())
    clip, boxes = torch.randn(1, 3, 4, 64, 64), boxes_for(64)[1:2]
    assert not torch.allclose(plain(clip, boxes), aligned(clip, boxes))


@pytest.mark.parametrize("prefix", ["", "model."])
def test_wrong_layout_is_named_with_offending_keys(tmp_path, prefix):
    """A classification checkpoint (blocks.*, 400-way head) is not an AVA detector file."""
    classifier = zoo.create_model("slow_r50_4x16_kinetics400")
    path = tmp_path / "kinetics.pyth"
    write_published_checkpoint(classifier, path, prefix=prefix)
    with pytest.raises(CheckpointMismatchError) as err:
        zoo.create_model(SLOW, checkpoint=str(path), progress=False)
    message = str(err.value)
    if prefix == "":  # fits neither layout: every key is named as missing or unexpected
        assert "(320 keys; file keys under 'blocks.'; the model's under 'detection_head.', 'model.')" in message
        assert "missing keys (320): model.blocks.0.conv.weight" in message
        assert "unexpected keys (320): blocks.0.conv.weight" in message
    else:  # the detectors' own layout, but a classification head
        assert "(320 keys; file keys under 'model.' (a PySlowFast/PyTorchVideo wrapper); the model's under 'detection_head.', 'model.')" in message
        assert "missing keys (2): detection_head.proj.weight, detection_head.proj.bias" in message
        assert "unexpected keys (2): model.blocks.5.proj.weight, model.blocks.5.proj.bias" in message
