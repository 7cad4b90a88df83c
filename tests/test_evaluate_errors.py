"""zoo evaluate as a new user meets it: a resume that checks what changes the labels and inputs
(and says it resumes), arguments refused up front in one line, a checkpoint that does not load
named in one line, Ctrl-C and a closed pipe without tracebacks, a short Kinetics CSV row."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main as zoo_main
from benchmarks.demo import videos as demo_data
from benchmarks.datasets import AnnotationError, read_kinetics_csv
from benchmarks.run_config import CONFIG_FILE
from benchmarks.runtime.workers import decoding_worker_init
from tests.videos import write_colour_dataset

REPO = Path(__file__).resolve().parents[1]
DEMO = "i3d_tiny_8x4_demo"


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """Six colour videos, listed as 'path label', and the colour model's four classes."""
    root = tmp_path_factory.mktemp("colours")
    annotations = write_colour_dataset(root, [(0, 0), (1, 1), (2, 2), (3, 3), (1, 1), (2, 2)])
    (root / "classes.txt").write_text("black\ndark\nlight\nwhite\n")
    return root, annotations


@pytest.fixture(scope="module")
def demo_videos(tmp_path_factory):
    """Two of the demo's held-out videos (its classes.txt beside the list), for the demo model."""
    root = tmp_path_factory.mktemp("demo")
    return root, demo_data.generate(root, {"val": 100}, limit=2, progress=False)["val"]


def evaluate(annotations, root, out, *extra) -> int:
    return zoo_main(["evaluate", "x3d_xs", "--annotations", str(annotations), "--video-root", str(root),
                     "--builder", "tests.videos:colour_model", "--views", "1x1", "--workers", "0",
                     "--out", str(out), "--quiet", *extra])


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------- resuming


def test_a_resume_with_another_class_list_video_root_or_annotation_file_is_refused(colours, tmp_path, capsys):
    root, annotations = colours
    out = tmp_path / "out"
    assert evaluate(annotations, root, out, "--limit", "2") == 0
    capsys.readouterr()
    # the same names in another order renumber the classes
    (tmp_path / "reordered.txt").write_text("white\nlight\ndark\nblack\n")
    assert evaluate(annotations, root, out, "--classes", str(tmp_path / "reordered.txt")) == 2
    assert "different evaluation (classes: '4 classes, sha256 " in one_line(capsys)
    other_root = tmp_path / "copy"
    other_root.mkdir()
    assert evaluate(annotations, other_root, out) == 2
    assert f"video_root: {str(root)!r} before, {str(other_root)!r} now" in one_line(capsys)
    # the annotation file edited in place (same path): other labels
    edited = tmp_path / "val.txt"
    edited.write_text(annotations.read_text())
    copy_out = tmp_path / "copy_out"
    assert evaluate(edited, root, copy_out, "--limit", "2") == 0
    edited.write_text(annotations.read_text().replace("v1.mp4 1", "v1.mp4 0"))
    capsys.readouterr()
    assert evaluate(edited, root, copy_out) == 2
    assert "annotations_sha256" in one_line(capsys)
    # the same job still resumes, and says so (once, before the summary)
    assert evaluate(annotations, root, out) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"resuming {out}: 2 of 6 videos already scored" and "over 6/6 videos" in lines[1]


def test_a_folder_written_before_the_new_fields_still_resumes_and_gains_them(colours, tmp_path, capsys):
    root, annotations = colours
    out = tmp_path / "out"
    assert evaluate(annotations, root, out, "--limit", "3") == 0
    config = json.loads((out / CONFIG_FILE).read_text())
    added = {k: config.pop(k) for k in ("classes", "annotations_sha256", "video_root")}
    (out / CONFIG_FILE).write_text(json.dumps(config))  # as an earlier version wrote it
    capsys.readouterr()
    assert evaluate(annotations, root, out) == 0
    assert f"resuming {out}: 3 of 6 videos already scored" in capsys.readouterr().out
    assert json.loads((out / CONFIG_FILE).read_text()) == {**config, **added}


def test_a_checkpoint_rewritten_under_the_same_path_is_another_evaluation(demo_videos, tmp_path, capsys):
    root, annotations = demo_videos
    checkpoint = tmp_path / "demo.pt"
    import zoo

    torch.save(zoo.create_model(DEMO).state_dict(), checkpoint)
    command = ["evaluate", DEMO, "--checkpoint", str(checkpoint), "--annotations", str(annotations),
               "--video-root", str(root), "--workers", "0", "--out", str(tmp_path / "out"), "--quiet", "--limit", "1",
               "--device", "cpu"]
    assert zoo_main(command) == 0
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in zoo.create_model(DEMO).state_dict().items()},
               checkpoint)
    capsys.readouterr()
    assert zoo_main(command) == 2
    assert "weights_sha256" in one_line(capsys)


# --------------------------------------------------------------------------- arguments refused up front


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_refused(colours, tmp_path, capsys, limit):
    root, annotations = colours
    assert evaluate(annotations, root, tmp_path / "out", "--limit", limit) == 2
    assert f"--limit {limit}: give the number of videos to evaluate, 1 or more" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_video_root_that_is_not_a_folder_is_refused(colours, tmp_path, capsys):
    root, annotations = colours
    assert evaluate(annotations, tmp_path / "nonexistent", tmp_path / "out") == 2
    assert f"--video-root {tmp_path / 'nonexistent'} does not exist" in one_line(capsys)
    assert evaluate(annotations, annotations, tmp_path / "out") == 2
    assert f"--video-root {annotations} is not a folder" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_file_given_as_the_folder_layout_is_one_line(tmp_path, capsys):
    (tmp_path / "list.txt").write_text("a.mp4 0\n")
    assert zoo_main(["evaluate", "i3d_tiny_8x4_demo", "--pretrained", "--dataset", "folders", "--annotations",
                     str(tmp_path / "list.txt"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "list.txt: a file: the folder layout takes the folder of class folders" in one_line(capsys)


def test_an_evaluation_where_every_video_failed_exits_1(colours, tmp_path, capsys):
    """A video root that exists but holds none of the videos: a run with no measurement is no success."""
    root, annotations = colours
    (tmp_path / "empty").mkdir()
    assert evaluate(annotations, tmp_path / "empty", tmp_path / "out") == 1
    out, err = capsys.readouterr()
    assert "no metrics: 0 of 6 videos scored; 6 failed" in out + err
    assert "zoo evaluate: every video failed (6; see " in err and "check --video-root and the annotation paths" in err


# --------------------------------------------------------------------------- checkpoints that do not load


def _other_architecture(path):
    torch.save({"blocks.0.conv.weight": torch.zeros(3, 3)}, path)


def _whole_model(path):
    import zoo

    torch.save(zoo.create_model(DEMO), path)


def _not_a_checkpoint(path):
    path.write_text("these are not weights")


@pytest.mark.parametrize("write, says", [
    (_other_architecture, "checkpoint does not fit the model"),
    (_whole_model, "it pickles zoo.models."),
    (_not_a_checkpoint, "it is not a plain tensor checkpoint"),
])
def test_a_checkpoint_that_does_not_load_is_one_line_and_leaves_no_config(demo_videos, tmp_path, capsys, write, says):
    root, annotations = demo_videos
    checkpoint = tmp_path / "weights.pt"
    write(checkpoint)
    out = tmp_path / "out"
    assert zoo_main(["evaluate", DEMO, "--checkpoint", str(checkpoint), "--annotations", str(annotations),
                     "--video-root", str(root), "--workers", "0", "--out", str(out), "--quiet",
                     "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith((f"zoo evaluate: {checkpoint}", f"zoo evaluate: refusing to load {checkpoint}"))
    assert says in err and "Traceback" not in err
    if _other_architecture is not write:  # a mismatch lists its keys one kind a line; the others are one line
        assert err.count("\n") == 1, err
    # nothing scored: the corrected rerun (other weights) must not be refused by this one's config.json
    assert not (out / CONFIG_FILE).exists()


# --------------------------------------------------------------------------- Ctrl-C, closed pipes


def test_ctrl_c_says_how_to_resume_without_a_traceback_from_the_run_or_its_workers(tmp_path):
    annotations = write_colour_dataset(tmp_path / "videos", [(i % 4, i % 4) for i in range(8)])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "benchmarks.cli", "evaluate", "x3d_xs", "--annotations", str(annotations),
               "--video-root", str(tmp_path / "videos"), "--builder", "tests.videos:slow_colour_model",
               "--views", "1x1", "--workers", "2", "--out", str(out), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO), VIDEOZOO_TEST_DELAY="0.5")
    # its own process group, as a terminal's: Ctrl-C sends SIGINT to the run and its workers alike
    # SIGINT at its default in the run, as in a terminal: a disposition of "ignore" is inherited, and
    # a Python started with SIGINT ignored never raises KeyboardInterrupt (a test runner may ignore it)
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    scores = out / "scores.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (scores.exists() and scores.read_text().count("\n")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == (f"zoo evaluate: interrupted; {out} keeps every scored video: "
                   "run the same command again to resume\n")
    rerun = subprocess.run(command, cwd=REPO, env=dict(env, VIDEOZOO_TEST_DELAY="0"), capture_output=True, text=True)
    assert rerun.returncode == 0 and rerun.stdout.startswith(f"resuming {out}: "), rerun.stderr
    assert "over 8/8 videos" in rerun.stdout


class _SigintHandler(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_decoding_workers_leave_ctrl_c_to_the_main_process():
    """Ctrl-C is the main process's alone: it stops its workers itself (decoded_videos) and says
    how to resume; a worker that took the SIGINT too would end on its own, in the middle of
    whatever it was doing (handing a video over, exiting), racing the main process."""
    loader = torch.utils.data.DataLoader(_SigintHandler(), batch_size=None, num_workers=1,
                                         worker_init_fn=decoding_worker_init)
    assert list(loader) == [True]


@pytest.mark.parametrize("command", [["info", "slowfast_r50"], ["list"]])
def test_output_into_a_closed_pipe_ends_quietly(command):
    # the reader is gone before the command writes: what `zoo list | head -1` meets on a long list
    reader, writer = os.pipe()
    os.close(reader)
    try:
        run = subprocess.run([sys.executable, "-m", "benchmarks.cli", *command], cwd=REPO, stdout=writer,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    finally:
        os.close(writer)
    assert run.stderr == "" and run.returncode == 1


# --------------------------------------------------------------------------- Kinetics CSV


def test_a_kinetics_row_with_a_missing_field_is_named_as_such(tmp_path):
    csv = tmp_path / "val.csv"
    csv.write_text("youtube_id,time_start,time_end,label,split\nvid0001,0,10,moving up,val\nvid0010,10,moving up,val\n")
    with pytest.raises(AnnotationError) as err:
        read_kinetics_csv(csv, tmp_path, name="demo")
    assert str(err.value) == (f"{csv}:3: expected 5 fields (youtube_id,time_start,time_end,label,split), "
                              "got 4: vid0010,10,moving up,val")
    csv.write_text("youtube_id,time_start,time_end,label,split\nvid0001,0,10,moving up,val,extra\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: expected 5 fields .*got 6"):
        read_kinetics_csv(csv, tmp_path, name="demo")
    csv.write_text("youtube_id,time_start,time_end,label,split\nvid0001,0,10,moving up,\n")  # an empty field is a field
    assert read_kinetics_csv(csv, tmp_path, name="demo").records[0].key == "vid0001_000000_000010"


def test_random_weights_are_said_and_the_published_ones_are_not(tmp_path, capsys):
    annotations = demo_data.generate(tmp_path / "demo", {"val": 1}, progress=False)["val"]
    argv = ["evaluate", DEMO, "--annotations", str(annotations), "--video-root", str(tmp_path / "demo"),
            "--views", "1x1", "--workers", "0", "--quiet"]
    assert zoo_main(argv + ["--out", str(tmp_path / "random")]) == 0
    assert "note: i3d_tiny_8x4_demo has random weights (no --pretrained/--checkpoint)" in capsys.readouterr().err
    assert zoo_main(argv + ["--out", str(tmp_path / "published"), "--pretrained"]) == 0
    assert "random weights" not in capsys.readouterr().err


def test_tables_follow_a_video_evaluation_when_asked(tmp_path):
    """--tables was read by AVA's evaluation only: a video run ignored it without a word."""
    annotations = demo_data.generate(tmp_path / "demo", {"val": 2}, progress=False)["val"]
    assert zoo_main(["evaluate", DEMO, "--pretrained", "--annotations", str(annotations), "--video-root",
                     str(tmp_path / "demo"), "--views", "1x1", "--workers", "0", "--quiet",
                     "--out", str(tmp_path / "results" / "runs" / DEMO), "--tables", str(tmp_path / "results")]) == 0
    page = (tmp_path / "results" / "demo.md").read_text()
    assert f"- {DEMO}: 2 videos, 1x1 views (clips x crops; the published protocol is 5x3)" in page


def test_a_folder_scored_under_other_labels_is_refused(tmp_path, capsys):
    """A folder written before config.json recorded the class list (an earlier version indexed a
    Kinetics subset by its own sorted names): its scores' labels are compared with this run's."""
    annotations = demo_data.generate(tmp_path / "demo", {"val": 2}, progress=False)["val"]
    out = tmp_path / "out"
    argv = ["evaluate", DEMO, "--pretrained", "--annotations", str(annotations), "--video-root", str(tmp_path / "demo"),
            "--views", "1x1", "--workers", "0", "--quiet", "--out", str(out)]
    assert zoo_main(argv + ["--limit", "1"]) == 0
    config = json.loads((out / CONFIG_FILE).read_text())
    old = {k: v for k, v in config.items() if k not in ("classes", "annotations_sha256", "video_root")}
    (out / CONFIG_FILE).write_text(json.dumps(old))  # as an older version wrote it
    lines = annotations.read_text().splitlines()
    path, label = lines[0].split()
    annotations.write_text("\n".join([f"{path} {(int(label) + 1) % 5}", *lines[1:]]) + "\n")
    capsys.readouterr()
    assert zoo_main(argv) == 2
    err = capsys.readouterr().err
    assert f"{out} holds videos scored under other labels than this run's (" in err
    assert f"{label} before, {(int(label) + 1) % 5} now; 1 of 1 scored videos)" in err


def test_the_default_folder_of_a_checkpoint_run_made_before_it_was_named_is_resumed(tmp_path, monkeypatch):
    from benchmarks.run_config import DataFiles, RunConfig, Weights

    monkeypatch.chdir(tmp_path)
    checkpoint = str(tmp_path / "mine" / "model.pyth")
    config = RunConfig(DEMO, data=DataFiles("val.txt"), weights=Weights(checkpoint=checkpoint))
    named = config.out_dir(DEMO)
    assert named.as_posix() == f"runs/evaluate/{DEMO}_5x3_mine_model"
    old = named.with_name(f"{DEMO}_5x3")  # where an earlier version put it
    old.mkdir(parents=True)
    (old / CONFIG_FILE).write_text(json.dumps({"model": DEMO, "weights": checkpoint}))
    assert config.out_dir(DEMO) == old  # the same weights: the rerun resumes there
    (old / CONFIG_FILE).write_text(json.dumps({"model": DEMO, "weights": "published"}))
    assert config.out_dir(DEMO) == named  # the published weights' run stays theirs
