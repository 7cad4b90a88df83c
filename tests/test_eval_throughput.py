"""benchmarks.eval_throughput: the end-to-end benchmark runs and reports each run beside the model-only rate."""

import json

from benchmarks import eval_throughput


def test_tiny_run_reports_rates_shares_and_the_batch(tmp_path):
    report = tmp_path / "report.json"
    code = eval_throughput.main(["--model", "i3d_tiny_8x4_demo", "--views", "1x2", "--videos", "3", "--seconds", "1",
                                 "--size", "64x48", "--fps", "10", "--workers", "0", "--batch-size", "4",
                                 "--work-dir", str(tmp_path / "work"), "--report", str(report)])
    assert code == 0
    result = json.loads(report.read_text())
    assert (result["device"], result["batch_size"], result["views"]) == ("cpu", 4, "1x2")
    (run,) = result["runs"]
    assert run["workers"] == 0 and run["videos"] == 3
    assert run["videos_per_s"] > 0 and run["share_of_model_only"] > 0
    assert run["first_video_s"] > 0 and run["steady_videos_per_s"] > 0 and run["steady_share_of_model_only"] > 0
    assert abs(run["decode_share"] + run["model_share"] - 1) < 1e-9
    # the evaluation itself scored every rendered video
    scores = (tmp_path / "work" / "run_w0" / "scores.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in scores) == ["v000.mp4", "v001.mp4", "v002.mp4"]
