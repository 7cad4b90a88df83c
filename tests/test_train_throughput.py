"""The training-throughput benchmark: the data path, the model alone and the two together."""

import json

import pytest

from benchmarks.perf import train_throughput


def test_train_throughput_reports_the_three_rates(tmp_path):
    report = tmp_path / "r.json"
    argv = ["--root", str(tmp_path), "--per-class", "2", "--batch-size", "3", "--workers", "0", "--epochs", "1",
            "--rounds", "1", "--threads", "1", "--report", str(report), "--table", str(tmp_path / "t.md")]
    assert train_throughput.main(argv) == 0
    data = json.loads(report.read_text())
    m = data["runs"][0]["medians"]
    assert data["videos"] == 6 and m["data_clips_per_s"] > 0 and m["model_steps_per_s"] > 0
    assert m["train_share"] == pytest.approx(m["train_steps_per_s"] / m["model_steps_per_s"])
    page = (tmp_path / "t.md").read_text()
    assert "training / model only" in page
    # the machine named, the load averages filled in (not left as template text)
    assert f"CPUs ({data['cpu']}) shared with other users (load average before / after: {data['load_before']} /" in page
    assert "{" not in page
