"""SSv2 (174 classes) and Charades (157, multi-label) fine-tunes of Slow and SlowFast R50 8x8.

Their checkpoints were trained with PySlowFast's PyTorchVideo wrappers (configs
``configs/{SSv2,Charades}/pytorchvideo/{SLOW,SLOWFAST}_8x8_R50.yaml`` of
facebookresearch/SlowFast). The reference here rebuilds those wrappers from the config
values: PyTorchVideo's ``create_resnet`` / ``create_slowfast`` under ``model``, and at test
time the head activation (``MODEL.HEAD_ACT``: softmax for SSv2 by default, sigmoid for
Charades) per position, then the mean over positions. Its state dict is therefore in the
PySlowFast file layout (every key under ``model.``).
"""

import pytest
import torch
from torch import nn

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_matches_reference, params_m

ENTRIES = ["slow_r50_8x8_ssv2", "slowfast_r50_8x8_ssv2", "slow_r50_8x8_charades", "slowfast_r50_8x8_charades"]

#: The values of the PySlowFast configs these checkpoints were trained with.
CONFIGS = {
    "slow_r50_8x8_ssv2": dict(arch="slow", num_classes=174, head_act="softmax"),
    "slowfast_r50_8x8_ssv2": dict(arch="slowfast", num_classes=174, head_act="softmax", alpha=4, fusion_kernel=7),
    "slow_r50_8x8_charades": dict(arch="slow", num_classes=157, head_act="sigmoid"),
    "slowfast_r50_8x8_charades": dict(arch="slowfast", num_classes=157, head_act="sigmoid", alpha=4, fusion_kernel=7),
}


class PySlowFastWrapper(nn.Module):
    """What PySlowFast's ``PTVResNet`` / ``PTVSlowFast`` compute in eval mode."""

    def __init__(self, model: nn.Module, head_act: str):
        super().__init__()
        self.model = model
        self.post_act = nn.Softmax(dim=1) if head_act == "softmax" else nn.Sigmoid()

    def forward(self, x):
        x = self.post_act(self.model(x))
        return x.mean([2, 3, 4]).view(x.shape[0], -1)


def reference(name: str, head_pool_t: int = 8, head_pool_hw: int = 7, head_act: str | None = "config") -> nn.Module:
    """The reference for ``name`` in PySlowFast's layout; ``head_pool_*`` shrink the head's
    kernels for small inputs (the config's are 8 and 224 // 32 = 7); ``head_act=None`` gives
    the bare PyTorchVideo model (hub layout, logits)."""
    from pytorchvideo.models.net import MultiPathWayWithFuse
    from pytorchvideo.models.resnet import create_resnet
    from pytorchvideo.models.slowfast import create_slowfast

    cfg = CONFIGS[name]
    global_average = head_act is None
    if cfg["arch"] == "slow":
        model = create_resnet(
            model_num_class=cfg["num_classes"],
            stem_conv_kernel_size=(1, 7, 7),
            stage_conv_a_kernel_size=((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
            head_pool_kernel_size=(head_pool_t, head_pool_hw, head_pool_hw),
            head_output_with_global_average=global_average,
        )
    else:
        alpha = cfg["alpha"]
        model = create_slowfast(
            model_num_class=cfg["num_classes"],
            slowfast_channel_reduction_ratio=8,
            slowfast_fusion_conv_kernel_size=(cfg["fusion_kernel"], 1, 1),
            slowfast_fusion_conv_stride=(alpha, 1, 1),
            head_pool_kernel_sizes=((head_pool_t, head_pool_hw, head_pool_hw), (head_pool_t * alpha, head_pool_hw, head_pool_hw)),
            head_output_with_global_average=global_average,
        )
        for module in model.modules():  # leave the caller's [slow, fast] list alone
            if isinstance(module, MultiPathWayWithFuse):
                module.inplace = False
    if head_act is None:
        return model
    return PySlowFastWrapper(model, cfg["head_act"] if head_act == "config" else head_act)


def inputs(name: str, frames: int, size: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    slow = torch.randn(1, 3, frames, size, size, generator=gen)
    if CONFIGS[name]["arch"] == "slow":
        return slow
    return [slow, torch.randn(1, 3, frames * CONFIGS[name]["alpha"], size, size, generator=gen)]


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_follows_its_pyslowfast_config(name):
    entry, cfg = zoo.get_entry(name), CONFIGS[name]
    assert entry.num_classes == cfg["num_classes"]
    assert entry.extra["head_activation"] == cfg["head_act"]
    assert entry.extra["config"].endswith(f"pytorchvideo/{name.split('_r50')[0].upper()}_8x8_R50.yaml")
    if entry.dataset == "charades":
        assert entry.multilabel and entry.extra["ensemble_method"] == "max"
    if cfg["arch"] == "slowfast":
        assert (entry.alpha, entry.extra["fusion_kernel"]) == (cfg["alpha"], cfg["fusion_kernel"])


@pytest.mark.parametrize("name", ["slowfast_r50_8x8_ssv2", "slow_r50_8x8_charades", "slowfast_r50_8x8_charades"])
def test_params_equal_published(name):
    # The published figures are to 2 decimals, rounded or truncated (34,045,558 -> 34.04,
    # 34,006,373 -> 34.00, 31,956,189 -> 31.96): within 0.01 M either way.
    assert abs(params_m(zoo.create_model(name)) - zoo.get_entry(name).params_m) < 0.01


def test_slow_ssv2_published_params_are_the_157_class_count():
    """The one figure that cannot be matched: a 174-class Slow R50 (the SSv2 config) has
    31,991,022 params; the published 31.96 M is the 157-class (Charades) model's count."""
    ssv2 = zoo.create_model("slow_r50_8x8_ssv2")
    assert count(ssv2) == 31_991_022 == zoo.get_entry("slow_r50_8x8_ssv2").extra["params_file"]
    assert round(count(zoo.create_model("slow_r50_8x8_ssv2", num_classes=157)) / 1e6, 2) == zoo.get_entry("slow_r50_8x8_ssv2").params_m
    assert "157-class" in zoo.get_entry("slow_r50_8x8_ssv2").note


@requires_pytorchvideo
@pytest.mark.parametrize("name", ENTRIES)
def test_one_frame_input_matches_pyslowfast_reference(name, tmp_path):
    """The published 256x256 crop, so the head sees 2x2 positions (where applying the
    activation before or after the average differs), but 1 slow frame to stay cheap."""
    assert_matches_reference(name, reference(name, head_pool_t=1), inputs(name, 1, 256), tmp_path)


@requires_pytorchvideo
def test_hub_layout_and_logits_override(tmp_path):
    """The same weights without the ``model.`` prefix load too; ``head_activation=None`` gives logits."""
    name = "slowfast_r50_8x8_charades"
    ref = reference(name, head_pool_t=1, head_act=None)
    from tests.equivalence import randomize_norm_stats, write_published_checkpoint

    randomize_norm_stats(ref).eval()
    path = tmp_path / "hub_layout.pyth"
    write_published_checkpoint(ref, path)
    logits_model = zoo.create_model(name, checkpoint=str(path), head_activation=None, progress=False)
    scores_model = zoo.create_model(name, checkpoint=str(path), progress=False)
    x = inputs(name, 1, 256)
    with torch.no_grad():
        expected, logits, scores = ref(x), logits_model(x), scores_model(x)
    assert (logits - expected).abs().max().item() <= 1e-4
    assert (logits < 0).any()  # logits, not sigmoid scores
    # the catalogue's head averages per-position sigmoids, which is not sigmoid of the average
    assert (scores - torch.sigmoid(logits)).abs().max().item() > 1e-4


def test_scores_are_probabilities():
    x_sf = [torch.randn(2, 3, 2, 64, 64), torch.randn(2, 3, 8, 64, 64)]
    with torch.no_grad():
        ssv2 = zoo.create_model("slowfast_r50_8x8_ssv2")(x_sf)
        charades = zoo.create_model("slow_r50_8x8_charades")(x_sf[0])
    torch.testing.assert_close(ssv2.sum(dim=1), torch.ones(2))
    assert charades.shape == (2, 157) and ((charades > 0) & (charades < 1)).all()


def test_a_charades_head_for_new_classes_is_single_label():
    """zoo finetune trains a resized head with cross-entropy: a Charades entry's new head ends in
    softmax (the per-position sigmoid would score a single-label classifier by independent
    probabilities) and predict aggregates it as single-label; the 157-class head keeps its
    sigmoid and max over views; an explicit sigmoid is multi-label at any size."""
    from zoo.scoring import output_activation, scores_multilabel

    entry = zoo.get_entry("slow_r50_8x8_charades")
    published, resized = zoo.create_model(entry.name), zoo.create_model(entry.name, num_classes=5)
    own = zoo.create_model(entry.name, num_classes=5, head_activation="sigmoid")
    with torch.no_grad():
        scores = resized(torch.randn(2, 3, 2, 64, 64))
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(2))
    assert [output_activation(m) for m in (published, resized, own)] == ["sigmoid", "softmax", "sigmoid"]
    assert [scores_multilabel(m, entry) for m in (published, resized, own)] == [True, False, True]
    logits = [zoo.create_model(entry.name, num_classes=n, head_activation=None) for n in (157, 5)]
    assert [scores_multilabel(m, entry) for m in logits] == [True, False]
    assert not scores_multilabel(zoo.create_model("slow_r50_8x8_ssv2"), zoo.get_entry("slow_r50_8x8_ssv2"))


@pytest.mark.slow
@requires_pytorchvideo
@pytest.mark.parametrize("name", ENTRIES)
def test_published_input_matches_pyslowfast_reference(name, tmp_path):
    entry = zoo.get_entry(name)
    slow_frames = entry.num_frames // (entry.alpha or 1)
    diff = assert_matches_reference(name, reference(name), inputs(name, slow_frames, entry.crop_size), tmp_path)
    print(f"{name}: max abs diff {diff:.3g}")
