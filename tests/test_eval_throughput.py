"""benchmarks.perf.eval_throughput: the end-to-end benchmark runs and reports each run beside the model-only rate."""

import json

from benchmarks.perf import eval_throughput
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


def test_view_buffers_ablation_runs_each_setting_with_workers(tmp_path):
    report = tmp_path / "report.json"
    eval_throughput.main(["--model", "i3d_tiny_8x4_demo", "--views", "1x2", "--videos", "2", "--seconds", "1",
                          "--size", "64x48", "--fps", "10", "--workers", "0", "1", "--view-buffers", "0", "2",
                          "--work-dir", str(tmp_path / "work"), "--report", str(report),
                          "--table", str(tmp_path / "table.md")])
    runs = json.loads(report.read_text())["runs"]
    rows = [line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[:2] for row in rows[1:]] == [["| 0", "n/a"], ["| 1", "0"], ["| 1", "2"]]
    assert [(r["workers"], r["view_buffers"], r["videos"]) for r in runs] == [(0, None, 2), (1, 0, 2), (1, 2, 2)]
    # the workers' CPU time, counted once they have ended (none to count without workers)
    assert runs[0]["workers_cpu_s_per_video"] is None and all(r["workers_cpu_s_per_video"] > 0 for r in runs[1:])
    from benchmarks.runtime import view_buffers
    assert view_buffers.DEFAULT_LIMIT == 8  # put back after each run
