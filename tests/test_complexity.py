"""benchmarks.complexity: fvcore GFLOPs/params reproduce the published columns; tables; cache."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from benchmarks import complexity
from benchmarks.cli import main as zoo_main


def _measure_or_skip(name: str) -> dict:
    try:
        return complexity.measure(name, naive=False)
    except zoo.BuilderNotAvailableError as err:
        pytest.skip(str(err))


def _assert_reproduced(row: dict) -> None:
    entry = zoo.get_entry(row["name"])
    if entry.gflops:  # at the published precision (2 decimals; torchvision's meta: 3)
        assert round(row["gflops"], max(2, len(str(entry.gflops).split(".")[-1]))) == entry.gflops, row
    # a few published params are truncated rather than rounded (the status says so)
    assert complexity._printed_match(row["params_m"], entry.params_m) is not None, row
    assert row["status"].startswith("reproduced"), row


# One entry per family, cheap ones on CPU in seconds; the rest are full-size counts.
@pytest.mark.parametrize("name", ["c2d_r50_8x8_kinetics400", "x3d_xs_4x12_kinetics400", "r3d_18_16x2_kinetics400"])
def test_published_figures_reproduced_cheap(name):
    _assert_reproduced(_measure_or_skip(name))


def test_torchvision_figures_are_counted_on_16_frames_whatever_the_test_clip():
    """torchvision's _ops (pytorch/vision PR #6936: get_flops(..., t=16)): S3D is tested on 128 frames."""
    s3d, swin = zoo.get_entry("s3d"), zoo.get_entry("swin3d_t")
    assert (complexity.flops_input_frames(s3d), s3d.num_frames, complexity.flops_input_frames(swin)) == (16, 128, 16)
    shape = complexity.describe_inputs(complexity.example_inputs(s3d, complexity.flops_input_frames(s3d)))
    assert shape == "1x3x16x224x224"
    assert complexity.describe_inputs(complexity.example_inputs(s3d)) == "1x3x128x224x224"
    assert complexity.convention_of(s3d).key == "fvcore-nonorm"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "i3d_r50_8x8_kinetics400",
        "slow_r50_4x16_kinetics400",
        "slow_r50_8x8_kinetics400",  # fvcore-nobn: the published figure leaves BatchNorm out
        "slow_r50_8x8_charades",  # the same network counted with BatchNorm: 55.10, not 54.52
        "slowfast_r50_4x16_kinetics400",
        "slowfast_r50_8x8_kinetics400",
        "csn_r101_32x2_kinetics400",
        "r2plus1d_r50_16x4_kinetics400",
        "x3d_m_16x5_kinetics400",
        "mvit_b_16x4_kinetics400",
        "slowfast_r50_8x8_ava",  # params only: no GFLOPs published for AVA
    ],
)
def test_published_figures_reproduced_full_size(name):
    _assert_reproduced(_measure_or_skip(name))


@pytest.mark.slow
def test_unreachable_published_params_are_reported_with_the_reason():
    """slow_r50_4x16_ava: the published file holds 31,798,416 params; the table prints 31.78."""
    row = _measure_or_skip("slow_r50_4x16_ava")
    assert row["params_m"] == pytest.approx(zoo.get_entry("slow_r50_4x16_ava").extra["params_file"] / 1e6, abs=1e-4)
    assert row["status"] == "differs: params"
    assert "31,798,416" in row["note"]


def test_the_convention_decides_the_published_figure():
    """X3D-XS: a plain eval-mode count is 4% short of 0.91; the model as built matches it."""
    row = complexity.measure("x3d_xs", naive=True)
    assert round(row["gflops"], 2) == 0.91
    assert round(row["gflops_naive"], 2) == 0.87
    assert row["convention"] == "fvcore-train" and row["gflops_by_op"].startswith("batch_norm=")


def test_slowfast_input_has_both_pathways_and_detection_a_box():
    sf = zoo.get_entry("slowfast_r50_8x8_kinetics400")
    assert complexity.describe_inputs(complexity.example_inputs(sf)) == "[1x3x8x256x256, 1x3x32x256x256]"
    ava = zoo.get_entry("slowfast_r50_8x8_ava")
    assert complexity.describe_inputs(complexity.example_inputs(ava)) == "[1x3x8x256x256, 1x3x32x256x256] + 1x5"


class _Attention(nn.Module):
    def forward(self, q, k, v):
        return nn.functional.scaled_dot_product_attention(q, k, v)


def test_fused_attention_is_counted_as_its_two_matmuls():
    b, h, n, m, d = 1, 2, 5, 7, 4
    q, k, v = torch.zeros(b, h, n, d), torch.zeros(b, h, m, d), torch.zeros(b, h, m, d)
    by_op = complexity.count_flops(_Attention(), (q, k, v), complexity.CONVENTIONS["fvcore-eval"])
    # q k^T: n*m dot products of length d; attn v: n*d dot products of length m (per head)
    assert sum(by_op.values()) * 1e9 == pytest.approx(b * h * (n * m * d + n * d * m))
    assert nn.functional.scaled_dot_product_attention is not complexity._math_attention  # restored


def test_conventions_count_batchnorm_differently():
    """Conv 2->4 (3x3x3) + BatchNorm on a 1x2x3x5x5 clip, hand-computed per convention."""
    model = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1, bias=False), nn.BatchNorm3d(4))
    clip = torch.zeros(1, 2, 3, 5, 5)
    outputs = 4 * 3 * 5 * 5
    conv = outputs * 2 * 27  # one multiply-add per kernel tap per output
    counts = {key: sum(complexity.count_flops(model, (clip,), c).values()) * 1e9 for key, c in complexity.CONVENTIONS.items()}
    assert counts == pytest.approx(
        {"fvcore-nobn": conv, "fvcore-nonorm": conv, "fvcore-eval": conv + 2 * outputs, "fvcore-train": conv + 5 * outputs}
    )
    assert model.training  # the model's mode is restored


def test_nonorm_leaves_layernorm_out_as_torchvision_ops():
    """Linear 8->6 + LayerNorm(6) on 10 tokens: fvcore counts the norm (5 per element), torchvision's _ops do not."""
    model = nn.Sequential(nn.Linear(8, 6), nn.LayerNorm(6))
    tokens = torch.zeros(1, 10, 8)
    counts = {key: sum(complexity.count_flops(model, (tokens,), complexity.CONVENTIONS[key]).values()) * 1e9
              for key in ("fvcore-nobn", "fvcore-nonorm")}
    assert counts == pytest.approx({"fvcore-nobn": 10 * 6 * 8 + 5 * 10 * 6, "fvcore-nonorm": 10 * 6 * 8})


def test_printed_match_rounds_or_truncates():
    assert complexity._printed_match(34.045558, 34.05) == "rounded"
    assert complexity._printed_match(34.045558, 34.04) == "truncated"
    assert complexity._printed_match(31.991022, 31.96) is None


def test_unknown_convention_names_the_file():
    entry = dataclasses.replace(zoo.get_entry("c2d_r50"), extra={"flops_convention": "fvcore-trian"})
    with pytest.raises(ValueError, match=r"kinetics400\.toml.*Did you mean fvcore-train"):
        complexity.convention_of(entry)


def test_cache_key_follows_entry_and_versions(monkeypatch):
    entry = zoo.get_entry("x3d_xs")
    key = complexity.cache_key(entry)
    assert complexity.cache_key(entry) == key
    assert complexity.cache_key(dataclasses.replace(entry, crop_size=160)) != key
    monkeypatch.setattr(complexity, "_version", lambda dist: "9.9" if dist == "fvcore" else "1.0")
    assert complexity.cache_key(entry) != key


@pytest.fixture
def counted_builds(monkeypatch):
    """Count how often a model is built (i.e. measured) through zoo.create_model."""
    calls = []
    real = zoo.create_model

    def create_model(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(zoo, "create_model", create_model)
    return calls


def test_cli_writes_tables_and_uses_the_cache(tmp_path, counted_builds):
    out = tmp_path / "results"
    args = ["complexity", "x3d_xs", "--out", str(out), "--no-naive"]
    assert zoo_main(args) == 0
    assert counted_builds == ["x3d_xs_4x12_kinetics400"]

    csv = pd.read_csv(out / "complexity.csv")
    required = "name arch depth dataset frames sampling_rate crop_size views gflops gflops_published params_m params_m_published convention"
    assert set(required.split()) <= set(csv.columns)
    assert {"gflops_rel_dev", "params_rel_dev"} <= set(csv.columns)
    row = csv.iloc[0]
    assert (row["name"], row["frames"], row["crop_size"], row["views"]) == ("x3d_xs_4x12_kinetics400", 4, 182, "3 x 10")
    assert (round(row["gflops"], 2), row["gflops_published"]) == (0.91, 0.91)
    md = (out / "complexity.md").read_text()
    assert "x3d_xs_4x12_kinetics400" in md and "`fvcore-nobn`" in md

    first = (out / "complexity.csv").read_text()
    assert zoo_main(args) == 0  # second run: answered from the cache, same table
    assert counted_builds == ["x3d_xs_4x12_kinetics400"]
    assert (out / "complexity.csv").read_text() == first
    assert list((out / ".cache" / "complexity").iterdir())[0].name == "x3d_xs_4x12_kinetics400.json"

    assert zoo_main(args + ["--no-cache"]) == 0  # re-measured
    assert counted_builds == ["x3d_xs_4x12_kinetics400"] * 2


def test_cli_shows_what_it_measured_and_keeps_the_other_rows(tmp_path, capsys):
    out = tmp_path / "results"
    assert zoo_main(["complexity", "x3d_xs", "--out", str(out), "--no-naive"]) == 0
    capsys.readouterr()
    assert zoo_main(["complexity", "i3d_tiny_8x4_demo", "--out", str(out), "--no-naive"]) == 0
    screen = capsys.readouterr().out
    # The table holds both entries; the screen counts and lists the one this run measured.
    assert set(pd.read_csv(out / "complexity.csv")["name"]) == {"x3d_xs_4x12_kinetics400", "i3d_tiny_8x4_demo"}
    assert "x3d_xs_4x12_kinetics400" not in screen and "i3d_tiny_8x4_demo" in screen
    assert "1 entry (0 from cache)" in screen and "the table keeps 1 other entry already there" in screen


def test_run_reports_entries_without_a_builder(tmp_path):
    def no_builder(name):
        raise zoo.BuilderNotAvailableError(f"{name}: not written yet")

    frame = complexity.run(["c2d_r50"], out_dir=tmp_path, build=no_builder, progress=False)
    assert frame.loc[0, "status"] == "no builder yet"
    assert pd.isna(frame.loc[0, "gflops"]) and frame.loc[0, "gflops_published"] == 25.89
    assert "no builder yet" in (tmp_path / "complexity.md").read_text()
