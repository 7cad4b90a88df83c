"""MViT-B 16x4 / 32x3: published params, state-dict layout and outputs against PyTorchVideo."""

import pytest
import torch
from torch import nn

import zoo
from tests.conftest import requires_pytorchvideo
from tests.equivalence import assert_matches_reference, params_m, randomize_norm_stats, run, write_published_checkpoint
from zoo.models.mvit import MultiscaleAttention, plan_blocks, MVIT_CONFIGS

MVIT_ENTRIES = {"mvit_b_16x4_kinetics400": "mvit_base_16x4", "mvit_b_32x3_kinetics400": "mvit_base_32x3"}


def perturb_transformer_params(model: nn.Module, seed: int = 1) -> nn.Module:
    """Make every LayerNorm and linear bias non-trivial (they start as 1 and 0).

    Untouched, a misplaced LayerNorm, a wrong eps or a swapped bias would be invisible.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.02)
    return model


def hub_reference(name: str, **kwargs) -> nn.Module:
    """The PyTorchVideo hub model of ``name`` (random init, LayerNorms and biases perturbed)."""
    hub = pytest.importorskip("pytorchvideo.models.hub")
    return perturb_transformer_params(getattr(hub, MVIT_ENTRIES[name])(**kwargs))


_hub_cache: dict[str, nn.Module] = {}


def cached_hub_reference(name: str) -> nn.Module:
    # Building a 36 M parameter reference takes seconds on a busy CPU; build each once.
    if name not in _hub_cache:
        _hub_cache[name] = hub_reference(name)
    return _hub_cache[name]


def build_on_meta(name: str, **overrides) -> nn.Module:
    """Our model without allocating or initialising weights: for structure-only checks."""
    with torch.device("meta"):
        return zoo.create_model(name, **overrides)


TINY = dict(
    num_frames=4,
    crop_size=32,
    num_classes=10,
    embed_dim=16,
    depth=4,
    dim_mul={1: 2.0, 3: 2.0},
    head_mul={1: 2.0, 3: 2.0},
    q_stride={1: (1, 2, 2), 3: (1, 2, 2)},
    kv_stride=(1, 4, 4),
)


@pytest.mark.parametrize("name", MVIT_ENTRIES)
def test_params_equal_published(name):
    model = build_on_meta(name)
    assert round(params_m(model), 2) == zoo.get_entry(name).params_m == 36.61


def test_block_plan_is_mvit_b():
    # MViT-B (paper table 3): 96 -> 192 -> 384 -> 768 wide, 1 -> 2 -> 4 -> 8 heads, in 1 + 2 + 11 + 2 blocks.
    plans = plan_blocks(MVIT_CONFIGS["b"])
    assert [p.dim for p in plans] == [96] + [192] * 2 + [384] * 11 + [768] * 2
    assert [p.num_heads for p in plans] == [1] + [2] * 2 + [4] * 11 + [8] * 2
    assert [i for i, p in enumerate(plans) if p.q_stride] == [1, 3, 14]
    assert [p.kv_stride for p in plans][:4] == [(1, 8, 8), (1, 4, 4), (1, 4, 4), (1, 2, 2)]
    assert plans[-1].kv_stride == (1, 1, 1)


@requires_pytorchvideo
@pytest.mark.parametrize("name", MVIT_ENTRIES)
def test_state_dict_keys_and_shapes_equal_hub(name):
    expected = {k: tuple(v.shape) for k, v in cached_hub_reference(name).state_dict().items()}
    actual = {k: tuple(v.shape) for k, v in build_on_meta(name).state_dict().items()}
    assert actual == expected


def test_sdpa_equals_explicit_softmax_attention():
    """Our attention (scaled_dot_product_attention) vs softmax(q k^T * d^-0.5) v written out."""
    torch.manual_seed(0)
    attn = perturb_transformer_params(MultiscaleAttention(32, 2, (1, 2, 2), (1, 2, 2), (3, 3, 3))).eval()
    grid = [2, 4, 4]
    x = torch.randn(2, 1 + 2 * 4 * 4, 32)
    with torch.no_grad():
        out, out_grid = attn(x, grid)

        def heads(t):
            return t.reshape(2, -1, 2, 16).transpose(1, 2)

        def pool(t, conv, norm):
            cls, patches = t[:, :, :1], t[:, :, 1:]
            patches = conv(patches.reshape(4, *grid, 16).permute(0, 4, 1, 2, 3))
            new_grid = list(patches.shape[2:])
            patches = patches.flatten(2).transpose(1, 2).reshape(2, 2, -1, 16)
            return norm(torch.cat([cls, patches], 2)), new_grid

        q, q_grid = pool(heads(attn.q(x)), attn.pool_q, attn.norm_q)
        k, _ = pool(heads(attn.k(x)), attn.pool_k, attn.norm_k)
        v, _ = pool(heads(attn.v(x)), attn.pool_v, attn.norm_v)
        weights = (q @ k.transpose(-2, -1) * 16**-0.5).softmax(-1)
        expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, -1, 32))
    assert out_grid == q_grid == [2, 2, 2]
    assert out.shape == (2, 1 + 8, 32)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@requires_pytorchvideo
def test_mvit_b_small_clip_matches_reference(tmp_path):
    """Full MViT-B widths on a 4x32x32 clip (positional embeddings sized for it on both sides)."""
    name = "mvit_b_16x4_kinetics400"
    reference = randomize_norm_stats(hub_reference(name, temporal_size=4, spatial_size=32)).eval()
    path = tmp_path / "mvit_small.pyth"
    write_published_checkpoint(reference, path)
    ours = zoo.create_model(name, checkpoint=str(path), num_frames=4, crop_size=32, progress=False)
    clip = torch.randn(2, 3, 4, 32, 32)
    expected, actual = run(reference, clip), run(ours, clip)
    assert actual.shape == (2, 400)
    assert (actual - expected).abs().max().item() <= 1e-4


@requires_pytorchvideo
@pytest.mark.parametrize("prefix", ["", "model."])
def test_tiny_config_matches_reference_builder(tmp_path, prefix):
    """A tiny custom MViT through our overrides vs pytorchvideo's builder with the same settings."""
    from pytorchvideo.models.vision_transformers import create_multiscale_vision_transformers

    reference = create_multiscale_vision_transformers(
        spatial_size=32,
        temporal_size=4,
        depth=4,
        patch_embed_dim=16,
        embed_dim_mul=[[1, 2.0], [3, 2.0]],
        atten_head_mul=[[1, 2.0], [3, 2.0]],
        pool_q_stride_size=[[1, 1, 2, 2], [3, 1, 2, 2]],
        pool_kv_stride_adaptive=[1, 4, 4],
        pool_kvq_kernel=[3, 3, 3],
        head_num_classes=10,
    )
    reference = perturb_transformer_params(reference).eval()
    path = tmp_path / "tiny.pyth"
    write_published_checkpoint(reference, path, prefix=prefix)
    ours = zoo.create_model("mvit_b_16x4_kinetics400", checkpoint=str(path), progress=False, **TINY)
    clip = torch.randn(3, 3, 4, 32, 32)
    torch.testing.assert_close(run(ours, clip), run(reference, clip), atol=1e-5, rtol=0)


def test_wrong_clip_size_names_the_expected_grid():
    model = zoo.create_model("mvit_b_16x4_kinetics400", **TINY)
    with pytest.raises(ValueError, match=r"2x8x8 patch grid .* gives 2x16x16"):
        model(torch.zeros(1, 3, 4, 64, 64))


def test_unknown_override_suggests_close_name():
    with pytest.raises(TypeError, match="embed_dim"):
        zoo.create_model("mvit_b_16x4_kinetics400", embed_dims=64)


@pytest.mark.slow
@requires_pytorchvideo
@pytest.mark.parametrize("name", MVIT_ENTRIES)
def test_matches_reference_at_published_input_size(name, tmp_path):
    entry = zoo.get_entry(name)
    clip = torch.randn(1, 3, entry.num_frames, entry.crop_size, entry.crop_size)
    diff = assert_matches_reference(name, cached_hub_reference(name), clip, tmp_path)
    print(f"{name}: max abs diff {diff:.3g}")


def test_stochastic_depth_in_training_only_at_the_published_rates():
    """MViT-B trains with stochastic depth (DROPPATH_RATE 0.2 in its configs), block i at
    linspace(0, 0.2, 16)[i] as PySlowFast's; it has no weights and is off in eval mode."""
    model = zoo.create_model("mvit_b_16x4_kinetics400", progress=False)
    rates = [getattr(block.drop_path, "p", 0.0) for block in model.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.2, 16).tolist())
    tiny = zoo.create_model("mvit_b_16x4_kinetics400", progress=False, dropout=0.0, drop_path=0.5, **TINY)
    clip = torch.randn(4, 3, 4, 32, 32)
    with torch.no_grad():
        tiny.eval()
        assert torch.equal(tiny(clip), tiny(clip))
        tiny.train()
        torch.manual_seed(0)
        first = tiny(clip)
        torch.manual_seed(1)
        assert not torch.allclose(first, tiny(clip))
    quiet = zoo.create_model("mvit_b_16x4_kinetics400", progress=False, dropout=0.0, drop_path=0.0, **TINY).train()
    with torch.no_grad():
        assert torch.equal(quiet(clip), quiet(clip))
