"""The `zoo` command line: list and info (the harness subcommands are tested with their modules)."""

import dataclasses

import pytest
import torch

import zoo
import zoo.registry as registry
from benchmarks.cli import main


def test_list_filters_by_dataset(capsys):
    assert main(["list", "--dataset", "ssv2"]) == 0
    out = capsys.readouterr().out
    assert "slow_r50_8x8_ssv2" in out and "slowfast_r50_8x8_ssv2" in out
    assert "kinetics400" not in out
    assert "60.04/85.19" in out and "55.1 x 3 x 1" in out


def test_list_all_has_every_entry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in zoo.list_models():
        assert name in out
    # params at the published precision: efficient X3D-XS's published 3.80 M, not 3.8
    row = next(line for line in out.splitlines() if line.startswith("| efficient_x3d_xs_4x12_kinetics400 "))
    assert row.split("|")[-2].strip() == "3.80"


def test_info_by_alias(capsys):
    assert main(["info", "x3d_xs"]) == 0
    out = capsys.readouterr().out
    assert "x3d_xs_4x12_kinetics400" in out and "X3D_XS.pyth" in out and "182" in out


def test_info_unknown_suggests(capsys):
    assert main(["info", "slowfast_r5"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_entry_without_builder_is_listed_and_says_so_when_built(monkeypatch, capsys):
    entry = zoo.get_entry("c2d_r50")
    monkeypatch.setitem(registry._entries(), entry.name, dataclasses.replace(entry, builder="not_written:build"))
    assert entry.name in zoo.list_models()
    with pytest.raises(zoo.BuilderNotAvailableError, match="not written yet"):
        zoo.create_model("c2d_r50")


def test_list_takes_every_catalogued_dataset_and_a_bare_word(capsys):
    assert main(["list", "--dataset", "demo"]) == 0
    assert "i3d_tiny_8x4_demo" in capsys.readouterr().out
    assert main(["list", "demo"]) == 0  # a word without wildcards matches inside names, as *demo*
    assert "i3d_tiny_8x4_demo" in capsys.readouterr().out
    assert main(["list", "x3d_s"]) == 0
    out = capsys.readouterr().out
    assert "x3d_s_13x6_kinetics400" in out and "efficient_x3d_s_13x6_kinetics400" in out and "x3d_xs" not in out
    assert main(["list", "x3d_s*"]) == 0  # a pattern stays anchored
    out = capsys.readouterr().out
    assert "x3d_s_13x6_kinetics400" in out and "efficient_x3d_s" not in out


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "The zoo command line: zoo list|info|" in " ".join(out.split()) and "``" not in out


def test_device_defaults_are_resolved_when_run_not_when_the_parser_is_built(monkeypatch):
    """The CLI reference is generated from the parsers: a default computed at import showed the
    build machine's "cpu" for finetune, features and reproduce, which use a GPU where there is one."""
    from benchmarks.cli import build_parser
    from benchmarks.transfer.finetune import config_from_args

    parser = build_parser()
    for argv in (["finetune", "i3d_tiny_8x4_demo", "--dataset", "folders", "--train", "x", "--out", "y"],
                 ["features", "i3d_tiny_8x4_demo", "--annotations", "a", "--out", "y"],
                 ["reproduce", "--dataset", "demo", "--annotations", "a", "--video-root", "v"]):
        assert parser.parse_args(argv).device is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config_from_args(parser.parse_args(["finetune", "i3d_tiny_8x4_demo", "--dataset", "folders", "--train", "x",
                                               "--out", "y"])).device == "cuda"
