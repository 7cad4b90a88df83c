"""zoo speed: runs on the tiny demo entry and a tiny video, writes well-formed tables."""

from __future__ import annotations

import csv

import av
import pytest

import torch

import zoo
from benchmarks import cli, speed
from zoo.input.video import decode_ptv_clips
from tests.videos import write_index_video
from zoo.transforms import InputSpec


def test_models_table_for_the_demo_entry(tmp_path):
    code = cli.main(["speed", "i3d_tiny_8x4_demo", "--no-data", "--reps", "2", "--batch", "1,2", "--out", str(tmp_path)])
    assert code == 0
    md = (tmp_path / "speed.md").read_text()
    assert f"torch {torch.__version__}" in md and "CPUs" in md and "GPU: none" in md
    rows = [line for line in md.splitlines() if line.startswith("| i3d_tiny_8x4_demo")]
    assert len(rows) == 2  # one per batch size
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert all(r.count("|") == header.count("|") for r in rows)
    with open(tmp_path / "speed.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [int(r["batch"]) for r in table] == [1, 2]
    for r in table:
        assert r["section"] == "model" and float(r["ours_clips_s"]) > 0 and r["threads"] == str(torch.get_num_threads())
        # the demo entry has no PyTorchVideo counterpart: no reference column, no ratio
        assert r["ref_clips_s"] == "" and r["ours_ratio"] == ""


def test_earlier_rows_are_kept_each_with_its_machine(tmp_path):
    """A second run adds its entries to the tables (as zoo complexity does) instead of replacing them;
    a row measured on another machine keeps it, and the page says which measured each row."""
    argv = ["speed", "i3d_tiny_8x4_demo", "--no-data", "--reps", "1", "--no-reference", "--out", str(tmp_path)]
    assert cli.main([*argv, "--batch", "1"]) == 0
    with open(tmp_path / "speed.csv", newline="") as f:
        (first,) = list(csv.DictReader(f))
    other = {**first, "name": "x3d_xs_4x12_kinetics400", "cpu": "Other CPU", "cpus": "64", "threads": "64"}
    with open(tmp_path / "speed.csv", "a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(first)).writerow(other)  # as if measured there earlier
    assert cli.main([*argv, "--batch", "2"]) == 0
    with open(tmp_path / "speed.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["name"], r["batch"], r["cpu"]) for r in table] == [
        ("i3d_tiny_8x4_demo", "1", first["cpu"]), ("x3d_xs_4x12_kinetics400", "1", "Other CPU"),
        ("i3d_tiny_8x4_demo", "2", first["cpu"])]
    md = (tmp_path / "speed.md").read_text()
    assert md.count("Other CPU, torch threads 64") == 2  # in the Machines line and its row
    assert "*reference* is PyTorchVideo's own model" in md and "| machine" in md.replace("|   ", "| ").replace("  ", " ")
    again = [r for r in speed.read_rows(tmp_path / "speed.csv") if r["name"] == "x3d_xs_4x12_kinetics400"]
    assert again[0]["cpus"] == 64 and again[0]["threads"] == 64  # a kept row keeps its own machine's columns
    # measured again: the entry's rows replaced in place, not appended
    assert cli.main([*argv, "--batch", "1"]) == 0
    assert [(r["name"], r["batch"]) for r in speed.read_rows(tmp_path / "speed.csv")] == [
        ("i3d_tiny_8x4_demo", 1), ("x3d_xs_4x12_kinetics400", 1), ("i3d_tiny_8x4_demo", 2)]
    assert cli.main([*argv, "--batch", "1", "--fresh"]) == 0  # starting over: this run's row alone
    assert [r["batch"] for r in speed.read_rows(tmp_path / "speed.csv")] == [1]
    assert "Other CPU" not in (tmp_path / "speed.md").read_text()


def test_data_path_row(tmp_path):
    video = write_index_video(tmp_path / "v.mp4", num_frames=40, fps=30, height=48, width=96)
    code = cli.main(["speed", "--no-models", "--videos", str(video), "--data-model", "i3d_tiny_8x4_demo",
                     "--views", "2x3", "--data-reps", "1", "--out", str(tmp_path / "out")])
    assert code == 0
    (row,) = speed.read_rows(tmp_path / "out" / "speed.csv")
    assert (row["section"], row["video"], row["size"], row["frames"], row["views"]) == ("data", "v.mp4", "96x48", 40, "2x3")
    # ours overlaps decoding with the views, so it may take less than the sequential decode alone
    assert min(row["ours_s"], row["ours_decode_s"], row["ours_views_s"], row["per_clip_s"], row["pyav_s"]) > 0
    assert abs(row["speedup_vs_per_clip"] - row["per_clip_s"] / row["ours_s"]) < 1e-3 * row["speedup_vs_per_clip"]
    assert "| v.mp4" in (tmp_path / "out" / "speed.md").read_text()


def test_baselines_decode_what_the_clips_need(tmp_path):
    video = write_index_video(tmp_path / "v.mp4", num_frames=60, fps=30)
    spec = InputSpec.from_entry(zoo.get_entry("i3d_tiny_8x4_demo"), views="3x1")
    assert spec.temporal_rule == "pyslowfast"
    assert speed.clip_frames(video, spec) == [[int(i) for i in clip] for clip in spec.clip_indices(60, 30.0)]
    needed = {int(i) for clip in spec.clip_indices(60, 30.0) for i in clip}
    # one plain pass: every frame up to the last needed one
    assert speed.decode_needed_frames(video, spec) == max(needed) + 1
    # PyTorchVideo's time-based clips: the frames our reader takes, by timestamp
    ptv = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="3x1")
    _, _, indices, _ = decode_ptv_clips(video, ptv)
    with av.open(str(video)) as container:
        step = int(1 / (container.streams.video[0].time_base * 30))
    assert speed.clip_frames(video, ptv) == [[int(p) // step for p in clip] for clip in indices]
    # per clip, every frame of the clip's span (8 frames x 4 at 30 fps = 32 frames), as EncodedVideo does
    spans = [int(c[-1]) - int(c[0]) + 1 for c in spec.clip_indices(60, 30.0)]
    assert speed.decode_per_clip(video, spec) == sum(spans)


def test_unknown_name_is_a_cli_error(capsys):
    assert cli.main(["speed", "x3d_xxl", "--no-data"]) == 2
    assert "x3d" in capsys.readouterr().err


def test_names_expand_patterns_and_aliases_in_order():
    assert speed.expand_names(["i3d_tiny*", "x3d_xs", "i3d_tiny_8x4_demo"]) == ["i3d_tiny_8x4_demo",
                                                                                 "x3d_xs_4x12_kinetics400"]
    everything = speed.expand_names([])
    assert everything == zoo.list_models(dataset="kinetics400") and "i3d_tiny_8x4_demo" not in everything


def test_runtime_names_take_patterns_and_default_to_the_x3d_xs_pair(monkeypatch, tmp_path, capsys):
    from benchmarks.deploy import speed as deploy_speed

    measured = []
    monkeypatch.setattr(deploy_speed, "measure", lambda name, *a, **k: measured.append(name) or [])
    monkeypatch.setattr(deploy_speed, "write_report", lambda out: out / "deploy.md")  # no measurement, no report
    assert cli.main(["speed", "i3d_tiny*", "--runtime", "eager", "--out", str(tmp_path)]) == 0
    assert measured == ["i3d_tiny_8x4_demo"]
    measured.clear()
    assert cli.main(["speed", "--runtime", "eager", "--out", str(tmp_path)]) == 0
    assert measured == ["x3d_xs_4x12_kinetics400", "efficient_x3d_xs_4x12_kinetics400"]
    measured.clear()
    assert cli.main(["speed", "i3d_tni*", "--runtime", "eager", "--out", str(tmp_path)]) == 2
    assert "Unknown model 'i3d_tni*'" in capsys.readouterr().err and measured == []
    with pytest.raises(SystemExit):
        cli.main(["speed", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "with --runtime: x3d_xs and efficient_x3d_xs" in help_text  # the default it runs
    assert "deploy_latency.csv, then deploy.md, deploy.csv" in help_text  # and what it writes


def test_a_row_without_the_reference_says_its_fast_ratio_is_against_ours():
    from benchmarks.speed import markdown_document

    machine = {"cpu": "cpu", "cpus": 2, "threads": 1, "torch": torch.__version__, "gpu": "none"}
    base = {"device": "cpu", "dtype": "fp32", "batch": 1, "input": "3x4x32x32", "ours_clips_s": 10.0, "fast_clips_s": 20.0,
            "fast_ratio": 2.0, "fast_max_diff": 1e-6, "output_max_abs": 1.0}
    rows = [{**base, "name": "no_ref"}, {**base, "name": "with_ref", "ref_clips_s": 5.0, "ours_ratio": 2.0, "fast_ratio": 4.0}]
    md = markdown_document(machine, rows, [], "zoo speed", "")
    line = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")] for r in md.splitlines() if r.startswith("| no_ref") or r.startswith("| with_ref")}
    assert "2.00 (vs ours)" in line["no_ref"] and "1e-06 (vs ours)" in line["no_ref"]
    assert "4.00" in line["with_ref"] and not any("vs ours" in c for c in line["with_ref"])


def test_an_interrupted_run_says_what_it_kept(tmp_path, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(speed, "run", interrupted)
    assert cli.main(["speed", "i3d_tiny_8x4_demo", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert f"zoo speed: interrupted; {tmp_path / 'speed.csv'} keeps every row measured before it" in err
    assert "Traceback" not in err


def test_an_interrupted_sweep_keeps_the_earlier_rows_of_the_entries_it_did_not_reach(tmp_path, monkeypatch):
    argv = ["speed", "i3d_tiny_8x4_demo", "--no-data", "--reps", "1", "--no-reference", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    (row,) = speed.read_rows(tmp_path / "speed.csv")
    with open(tmp_path / "speed.csv", newline="") as f:
        fields = list(csv.DictReader(f).fieldnames)
    with open(tmp_path / "speed.csv", "a", newline="") as f:  # an earlier row of a second entry
        csv.DictWriter(f, fieldnames=fields).writerow({**row, "name": "x3d_xs_4x12_kinetics400", "ours_clips_s": 7.0})
    calls = []

    def measure(name, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [{**row, "ours_clips_s": 99.0}]

    monkeypatch.setattr(speed, "measure_entry", measure)
    assert cli.main(["speed", "i3d_tiny_8x4_demo", "x3d_xs", *argv[2:]]) == 130
    kept = {r["name"]: r["ours_clips_s"] for r in speed.read_rows(tmp_path / "speed.csv")}
    assert kept == {"i3d_tiny_8x4_demo": 99.0, "x3d_xs_4x12_kinetics400": 7.0}  # x3d_xs was never measured again
