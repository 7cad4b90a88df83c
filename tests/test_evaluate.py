"""benchmarks.evaluate end to end: known answers, failures, resume after SIGKILL, CLI."""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from benchmarks.cli import main as zoo_main
from benchmarks.datasets import read_charades, read_path_label_list
from benchmarks.evaluate import SCORES_FILE, evaluate, merge_results, read_scores, summary_line
from zoo.scoring import aggregate, head_logits, output_activation, view_scores
from tests.videos import colour_level, colour_model, write_colour_dataset, write_colour_video

REPO = Path(__file__).resolve().parents[1]

# colour class, label: the model answers the colour class, so v3 and v5 are wrong.
# v5 (level 130, label 3): class 2 first, then classes 1 and 3 tie (distance 50) -> not top-2.
VIDEOS = [(0, 0), (1, 1), (2, 2), (3, 0), (1, 1), (2, 3)]


def tiny_entry(name="x3d_xs"):
    """The entry with a small test input, so tests stay cheap (the protocol is unchanged)."""
    return dataclasses.replace(zoo.get_entry(name), side_size=32, crop_size=32)


@pytest.fixture(scope="module")
def colour_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    annotations = write_colour_dataset(root, VIDEOS)
    return root, annotations


def test_known_answer_with_a_corrupt_and_a_missing_file(colour_set, tmp_path):
    root, annotations = colour_set
    (root / "corrupt.mp4").write_bytes(os.urandom(2048))
    lines = annotations.read_text() + "corrupt.mp4 1\nmissing.mp4 2\n"
    (root / "with_bad.txt").write_text(lines)
    ds = read_path_label_list(root / "with_bad.txt", root)
    logs = []
    result = evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="2x3", progress=False, log=logs.append)
    assert result["metrics"]["top1"] == pytest.approx(400 / 6)
    assert result["metrics"]["top5"] == 100.0
    assert (result["videos"], result["failed"], result["total"]) == (6, 2, 8)
    failures = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert {f["key"]: f["reason"].split(" ")[0] for f in failures} == {"corrupt.mp4": "unreadable", "missing.mp4": "missing"}
    assert "2 failed" in logs[0] and "top1 66.67" in logs[0]
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == result["metrics"]
    # each view saw the same grey level: the mean of softmax is the softmax of one view
    scores = read_scores(tmp_path / SCORES_FILE)
    expected = torch.softmax(-torch.tensor([0.0, 50.0, 100.0, 150.0]) / 10, dim=0)
    torch.testing.assert_close(torch.tensor(scores["v0.mp4"]["scores"]), expected, atol=2e-2, rtol=0)
    assert scores["v0.mp4"]["views"] == 6


def test_charades_multilabel_known_map(tmp_path):
    for i, c in enumerate(range(4)):
        write_colour_video(tmp_path / f"vid{i}.mp4", colour_level(c))
    rows = ["id,actions", "vid0,c000 0.0 1.0", "vid1,c001 0.0 1.0;c000 1.0 2.0", "vid2,c002 0.0 1.0", "vid3,c001 0.5 0.9"]
    (tmp_path / "test.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "classes.txt").write_text("c000 a\nc001 b\nc002 c\nc003 d\n")
    ds = read_charades(tmp_path / "test.csv", tmp_path, tmp_path / "classes.txt")
    result = evaluate(tiny_entry("slowfast_r50_8x8_charades"), ds, tmp_path / "out", model_factory=colour_model,
                      views="2x1", progress=False, log=None)
    # class 0: vid0, vid1 ranked first -> 1; class 1: vid1 P, {vid0, vid2} N, vid3 P -> (1 + 2/4) / 2;
    # class 2: vid2 first -> 1; class 3: no positive, skipped
    assert result["metrics"]["map"] == pytest.approx((1 + 0.75 + 1) / 3 * 100)
    assert result["metrics"]["map_classes_skipped"] == 1


def test_aggregation_rules():
    logits = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    single = view_scores(logits, "logits", multilabel=False)
    torch.testing.assert_close(aggregate(single, multilabel=False), torch.softmax(logits, 1).mean(0))
    multi = view_scores(logits, "logits", multilabel=True)
    torch.testing.assert_close(aggregate(multi, multilabel=True), torch.sigmoid(torch.tensor([2.0, 4.0])))
    probs = torch.tensor([[0.2, 0.8]])
    assert view_scores(probs, "softmax", multilabel=False) is probs  # not softmaxed twice


def test_output_activation_from_the_head():
    assert output_activation(zoo.create_model("x3d_xs")) == "softmax"  # X3D's head ends in softmax
    assert output_activation(torch.nn.Linear(3, 3)) == "logits"


def test_head_logits_sets_the_heads_softmax_aside_for_the_block_only():
    """X3D's head ends in softmax in every mode; in the block it gives the logits it averages
    (one position here: their softmax is the usual output), and the softmax is back after,
    even when the block raises."""
    torch.manual_seed(0)
    model = zoo.create_model("x3d_xs", num_classes=3).train()
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        model.eval()
        probabilities = model(clip)
        with head_logits(model):
            logits = model(clip)
        assert output_activation(model) == "softmax"
        torch.testing.assert_close(probabilities.sum(-1), torch.ones(2))
        assert not torch.allclose(logits.sum(-1), torch.ones(2), atol=1e-3)
        torch.testing.assert_close(logits.softmax(-1), probabilities)
        with pytest.raises(RuntimeError, match="inside"):
            with head_logits(model):
                raise RuntimeError("inside")
        torch.testing.assert_close(model(clip), probabilities)
    # a model of logits is left as it is; outputs activated elsewhere cannot be set aside
    demo = zoo.create_model("i3d_tiny_8x4_demo")
    with head_logits(demo) as same:
        assert same is demo and output_activation(demo) == "logits"

    class Activated(torch.nn.Linear):
        output_activation = "sigmoid"

    with pytest.raises(ValueError, match="sigmoid"):
        with head_logits(Activated(3, 3)):
            pass


def test_views_of_several_videos_share_forward_passes(colour_set, tmp_path):
    root, annotations = colour_set
    (root / "corrupt2.mp4").write_bytes(os.urandom(2048))
    lines = annotations.read_text().splitlines()
    (root / "packed.txt").write_text("\n".join(lines[:3] + ["corrupt2.mp4 1"] + lines[3:]) + "\n")
    ds = read_path_label_list(root / "packed.txt", root)
    passes = []

    def counting_factory(entry):
        model = colour_model(entry)
        model.register_forward_hook(lambda module, args, out: passes.append(args[0].shape[0]))
        return model

    one_by_one = evaluate(tiny_entry(), ds, tmp_path / "each", model_factory=colour_model, views="2x3", progress=False,
                          log=None)
    packed = evaluate(tiny_entry(), ds, tmp_path / "packed", model_factory=counting_factory, views="2x3",
                      batch_size=8, progress=False, log=None)
    # 6 good videos x 6 views = 36 views: four full passes of 8 and the last 4; the bad file in
    # the middle is a failure and the views around it still reach their own videos
    assert passes == [8, 8, 8, 8, 4]
    assert (packed["videos"], packed["failed"]) == (6, 1)
    assert packed["metrics"] == one_by_one["metrics"]
    each, together = read_scores(tmp_path / "each" / SCORES_FILE), read_scores(tmp_path / "packed" / SCORES_FILE)
    assert each.keys() == together.keys() and len(together) == 6
    for key in each:
        assert together[key]["views"] == 6
        torch.testing.assert_close(torch.tensor(together[key]["scores"]), torch.tensor(each[key]["scores"]))
    # the scores' last bits depend on the passes: a resume with another batch size is refused
    with pytest.raises(ValueError, match="batch_size: 8 before, 12 now"):
        evaluate(tiny_entry(), ds, tmp_path / "packed", model_factory=colour_model, views="2x3", batch_size=12,
                 progress=False, log=None)


def test_no_prefetch_thread_with_the_model_on_the_cpu(colour_set, tmp_path, monkeypatch):
    # on the CPU the decoder and the model share the cores, and a thread's view batches would
    # miss host_memory (glibc arenas): decoding stays in line with the model there
    from benchmarks import evaluate as evaluate_module
    calls = []
    monkeypatch.setattr(evaluate_module, "prefetched", lambda items, **k: calls.append(1) or iter(items))
    root, annotations = colour_set
    ds = read_path_label_list(annotations, root)
    result = evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", limit=2, workers=0,
                      progress=False, log=None)
    assert result["videos"] == 2 and calls == []


def test_resume_skips_finished_videos_and_tolerates_a_cut_line(colour_set, tmp_path):
    root, annotations = colour_set
    ds = read_path_label_list(annotations, root)
    first = evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", limit=3, progress=False, log=None)
    assert first["videos"] == 3 and first["annotated"] == 6  # a partial result says so
    assert "over 3/3 videos (the first 3 of the annotation file's 6: --limit)" in summary_line(first)
    with open(tmp_path / SCORES_FILE, "a") as f:
        f.write('{"key": "v3.mp4", "label": 0, "sco')  # a write cut short by a kill
    calls = []

    def counting_factory(entry):
        model = colour_model(entry)
        model.register_forward_hook(lambda *a: calls.append(1))
        return model

    result = evaluate(tiny_entry(), ds, tmp_path, model_factory=counting_factory, views="1x1", progress=False, log=None)
    assert len(calls) == 3  # only v3..v5
    assert "annotated" not in result  # the whole file now
    keys = [json.loads(line)["key"] for line in (tmp_path / SCORES_FILE).read_text().splitlines()]
    assert keys == [f"v{i}.mp4" for i in range(6)]
    assert result["metrics"]["top1"] == pytest.approx(400 / 6)
    # run again with nothing left, then merged: the last scoring run's timing is kept, not erased
    again = evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", progress=False, log=None)
    assert again["timing"]["videos_this_run"] == 0 and again["timing"]["last_scoring_run"]["videos_this_run"] == 3
    merged = merge_results(tmp_path)
    assert merged["timing"]["merged"] and merged["timing"]["last_scoring_run"] == result["timing"]


def test_a_merged_unfinished_folder_says_it_is_incomplete(colour_set, tmp_path):
    root, annotations = colour_set
    ds = read_path_label_list(annotations, root)
    evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", progress=False, log=None)
    lines = (tmp_path / SCORES_FILE).read_text().splitlines()
    (tmp_path / SCORES_FILE).write_text("\n".join(lines[:4]) + "\n")  # as if killed after 4 of 6 videos
    line = summary_line(merge_results(tmp_path))
    assert "over 4/6 videos; INCOMPLETE: 2 not scored yet (run the evaluation again with this --out: it resumes)" in line


def test_other_configuration_in_the_same_out_is_refused(colour_set, tmp_path):
    root, annotations = colour_set
    ds = read_path_label_list(annotations, root)
    evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", limit=1, progress=False, log=None)
    with pytest.raises(ValueError, match="different evaluation .*views"):
        evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x3", limit=1, progress=False, log=None)


def _cli(annotations, root, out, extra=()):
    return [sys.executable, "-m", "benchmarks.cli", "evaluate", "x3d_xs", "--annotations", str(annotations),
            "--video-root", str(root), "--builder", "tests.videos:slow_colour_model", "--views", "1x1",
            "--workers", "1", "--out", str(out), "--quiet", *extra]


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tmp_path):
    labels = [(i % 4, (i * 7) % 4) for i in range(10)]
    annotations = write_colour_dataset(tmp_path / "videos", labels)
    env = dict(os.environ, PYTHONPATH=str(REPO), VIDEOZOO_TEST_DELAY="0.5")

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(annotations, tmp_path / "videos", killed), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scores = killed / SCORES_FILE
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if scores.exists() and scores.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = scores.read_text().count("\n")
    assert 3 <= done_before < 10
    assert not (killed / "metrics.json").exists()

    env["VIDEOZOO_TEST_DELAY"] = "0"
    subprocess.run(_cli(annotations, tmp_path / "videos", killed), cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run(_cli(annotations, tmp_path / "videos", tmp_path / "whole"), cwd=REPO, env=env, check=True,
                   capture_output=True)

    resumed = json.loads((killed / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert resumed["metrics"] == whole["metrics"]
    assert resumed["videos"] == whole["videos"] == 10
    assert resumed["timing"]["videos_this_run"] == 10 - done_before
    keys = [json.loads(line)["key"] for line in scores.read_text().splitlines()]
    assert sorted(keys) == sorted(f"v{i}.mp4" for i in range(10))  # each video exactly once
    expected_top1 = 100 * np.mean([c == label for c, label in labels])
    assert math.isclose(whole["metrics"]["top1"], expected_top1)


def test_cli_reports_a_malformed_annotation_line(tmp_path, capsys):
    (tmp_path / "val.txt").write_text("a.mp4 1\nb.mp4\n")
    code = zoo_main(["evaluate", "x3d_xs", "--annotations", str(tmp_path / "val.txt"), "--video-root", str(tmp_path),
                     "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert f"{tmp_path / 'val.txt'}:2: expected '<path> <class index>'" in capsys.readouterr().err


def test_cli_in_process_with_a_builder(colour_set, tmp_path, capsys):
    root, annotations = colour_set
    code = zoo_main(["evaluate", "x3d_xs", "--annotations", str(annotations), "--video-root", str(root),
                     "--builder", "tests.videos:colour_model", "--views", "1x1", "--workers", "0",
                     "--out", str(tmp_path), "--quiet"])
    assert code == 0
    # the builder's model scores 4 classes, not x3d_xs's 400: the entry's published figures are not beside it
    out = capsys.readouterr().out
    assert "top1 66.67, top5 100.00 over 6/6 videos" in out and "published" not in out


def test_detection_entries_are_refused_with_a_reason(tmp_path):
    from benchmarks.datasets import VideoDataset

    with pytest.raises(ValueError, match="AVA detection model"):
        evaluate("slow_r50_detection", VideoDataset(name="ava", records=[]), tmp_path)


def test_fp16_on_cpu_is_refused_with_the_alternative(tmp_path):
    from benchmarks.evaluate import evaluate

    with pytest.raises(ValueError, match="fp16 autocast needs a GPU.*bf16"):
        evaluate("i3d_tiny_8x4_demo", None, tmp_path, dtype="fp16", device="cpu")


def test_timing_gives_the_start_up_and_the_rate_after_the_first_video(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_TEST_DELAY", "0.2")  # each pass sleeps 0.2 s: at most 5 videos/s
    from tests.videos import slow_colour_model

    annotations = write_colour_dataset(tmp_path / "videos", [(i % 4, i % 4) for i in range(4)])
    ds = read_path_label_list(annotations, tmp_path / "videos")
    timing = evaluate(tiny_entry(), ds, tmp_path / "out", model_factory=slow_colour_model, views="1x1", workers=0,
                      progress=False, log=None)["timing"]
    assert 0.2 <= timing["first_video_s"] < timing["wall_s"]
    # three videos after the first, each a 0.2 s pass and a tiny decode
    assert 2.5 < timing["steady_videos_per_s"] <= 5.0


def test_timing_after_the_first_pass_counts_only_later_videos(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_TEST_DELAY", "0.2")
    from tests.videos import slow_colour_model

    annotations = write_colour_dataset(tmp_path / "videos", [(i % 4, i % 4) for i in range(4)])
    ds = read_path_label_list(annotations, tmp_path / "videos")
    # 2 views a video, 4 a pass: videos finish two at a time, 2 passes of 0.2 s in all
    timing = evaluate(tiny_entry(), ds, tmp_path / "two", model_factory=slow_colour_model, views="2x1", batch_size=4,
                      workers=0, progress=False, log=None)["timing"]
    assert 2.0 < timing["steady_videos_per_s"] <= 10.0  # 2 videos after the first pass, in one 0.2 s pass
    # every video in the first pass: no rate after it
    timing = evaluate(tiny_entry(), ds, tmp_path / "one", model_factory=slow_colour_model, views="2x1", batch_size=8,
                      workers=0, progress=False, log=None)["timing"]
    assert timing["steady_videos_per_s"] is None and timing["first_video_s"] >= 0.2


def test_videos_left_out_of_a_frame_list_are_said(colour_set, tmp_path):
    root, annotations = colour_set
    ds = read_path_label_list(annotations, root)
    ds.meta["not_in_frame_list"] = 2  # as read_ssv2 counts them
    lines = []
    evaluate(tiny_entry(), ds, tmp_path, model_factory=colour_model, views="1x1", limit=1, progress=False, log=lines.append)
    assert "note: 2 annotated video(s) are not in the frame list and are left out" in lines


def test_the_frame_list_read_is_part_of_the_job_a_resume_must_match(tmp_path):
    from benchmarks.datasets import VideoDataset
    from benchmarks.evaluate import job_record
    from benchmarks.run_config import DataFiles, RunConfig
    from zoo.transforms import InputSpec

    frames = tmp_path / "val.csv"
    frames.write_text("original_vido_id video_id frame_id path labels\n")
    entry = zoo.get_entry("x3d_xs")
    config = RunConfig(entry.name, data=DataFiles(str(tmp_path / "val.json"), dataset="ssv2", frame_list=str(frames)))
    job = job_record(config, entry, InputSpec.from_entry(entry), VideoDataset("ssv2", []))
    frames.write_text("original_vido_id video_id frame_id path labels\nA 0 0 A/1.jpg \"\"\n")
    again = job_record(config, entry, InputSpec.from_entry(entry), VideoDataset("ssv2", []))
    assert job["frame_list_sha256"] != again["frame_list_sha256"]  # another frame list: another evaluation
