"""A fine-tuned checkpoint measured by ``zoo evaluate --dataset folders|ucf101|hmdb51`` (the class
order it trained with, its classes.txt checked), and the run's row in ``--results``'s
finetune.md|csv, beside the demo task's rows."""

import json
import os
import shutil

import pytest

from benchmarks.cli import main as zoo_main
from benchmarks.datasets import TRANSFER_DATASETS
from benchmarks.transfer.finetune import CLASSES_FILE, MANIFEST, MODEL_FILE
from benchmarks.transfer.table import SOURCE_DEMO, SOURCE_RUN, read_rows, record_run, replace_demo_rows
from benchmarks.run_config import TRANSFER_SETS, DataFiles, RunConfig
from tests.videos import write_demo_class_folders

DEMO = "i3d_tiny_8x4_demo"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch fine-tune (half of each class held out: 3 videos), its row in ``results/``, and
    ``heldout/<class>/v_<class>_<video>``: copies of its held-out videos (its val.txt)."""
    base = tmp_path_factory.mktemp("finetune")
    clips = write_demo_class_folders(base / "clips")
    out, results = base / "run", base / "results"
    argv = ["finetune", DEMO, "--dataset", "folders", "--train", str(clips), "--val-fraction", "0.5",
            "--out", str(out), "--epochs", "1", "--batch-size", "3", "--workers", "0", "--val-views", "2x1",
            "--epoch-val-views", "none", "--results", str(results), "--quiet"]
    assert zoo_main(argv) == 0
    heldout = base / "heldout"
    for line in (out / "val.txt").read_text().splitlines():
        path = line.rsplit(" ", 1)[0]
        cls = os.path.basename(os.path.dirname(path))
        target = heldout / cls / f"v_{cls}_{os.path.basename(path)}"  # UCF101's and HMDB51's names are unique
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return {"out": out, "results": results, "heldout": heldout, "argv": argv,
            "manifest": json.loads((out / MANIFEST).read_text())}


def evaluate(run, out, *args):
    return zoo_main(["evaluate", DEMO, "--checkpoint", str(run["out"] / MODEL_FILE), "--views", "2x1",
                     "--workers", "0", "--out", str(out), "--quiet", *args])


def test_folders_evaluation_of_the_checkpoint_is_the_runs_own_measurement_and_resumes(run, tmp_path):
    val = run["manifest"]["val"]
    assert val["videos"] == 6 and val["views"] == "2x1"
    assert val["top1"] > 50  # better than one class for all: a measurement with the labels mixed up differs
    code = evaluate(run, tmp_path / "eval", "--dataset", "folders", "--annotations", str(run["heldout"]),
                    "--classes", str(run["out"] / CLASSES_FILE))
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["dataset"] == "folders" and metrics["videos"] == 6
    assert metrics["metrics"]["top1"] == val["top1"] and metrics["metrics"]["top5"] == val["top5"]
    assert metrics["published"] == {}  # the entry's published figures are not of these classes
    # a rerun resumes: nothing scored again, the same result
    scores = (tmp_path / "eval" / "scores.jsonl").read_text()
    assert evaluate(run, tmp_path / "eval", "--dataset", "folders", "--annotations", str(run["heldout"]),
                    "--classes", str(run["out"] / CLASSES_FILE)) == 0
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["metrics"] == metrics["metrics"] and again["timing"]["videos_this_run"] == 0
    assert (tmp_path / "eval" / "scores.jsonl").read_text() == scores
    # the class list is what the checkpoint's outputs mean: listed the other way round, the labels
    # would follow it (top-1 100 - top-1); the run's own classes.txt beside the checkpoint refuses it
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("".join(f"{c}\n" for c in reversed(run["manifest"]["classes"])))
    assert evaluate(run, tmp_path / "swapped", "--dataset", "folders", "--annotations", str(run["heldout"]),
                    "--classes", str(swapped)) == 2
    assert not (tmp_path / "swapped" / "metrics.json").exists()
    # the checkpoint alone (no classes.txt beside it) takes the list as given
    bare = tmp_path / "bare" / MODEL_FILE
    bare.parent.mkdir()
    shutil.copy(run["out"] / MODEL_FILE, bare)
    assert zoo_main(["evaluate", DEMO, "--checkpoint", str(bare), "--views", "2x1", "--workers", "0", "--quiet",
                     "--out", str(tmp_path / "swapped_bare"), "--dataset", "folders", "--annotations", str(run["heldout"]),
                     "--classes", str(swapped)]) == 0
    assert json.loads((tmp_path / "swapped_bare" / "metrics.json").read_text())["metrics"]["top1"] == 100 - val["top1"]


def test_ucf101_and_hmdb51_split_files_give_the_same_measurement(run, tmp_path):
    classes = run["manifest"]["classes"]
    videos = {c: sorted(p.name for p in (run["heldout"] / c).iterdir()) for c in classes}
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    (lists / "testlist01.txt").write_text("".join(f"{c}/{v}\n" for c in classes for v in videos[c]))
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for c in classes:  # the held-out videos are split 2's test rows; a train row and an unused one besides
        rows = [f"{v} 2\n" for v in videos[c]] + ["not_a_test_video.avi 1\n", "unused.avi 0\n"]
        (splits / f"{c}_test_split2.txt").write_text("".join(rows))
        (splits / f"{c}_test_split1.txt").write_text("other.avi 2\n")
    top1 = run["manifest"]["val"]["top1"]
    for name, args in {
        "ucf101": ["--annotations", str(lists / "testlist01.txt"), "--video-root", str(run["heldout"])],
        "hmdb51": ["--annotations", str(splits), "--split", "2", "--video-root", str(run["heldout"])],
    }.items():
        code = evaluate(run, tmp_path / name, "--dataset", name, *args, "--classes", str(run["out"] / CLASSES_FILE))
        assert code == 0, name
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert (metrics["dataset"], metrics["videos"], metrics["failed"]) == (name, 6, 0)
        assert metrics["metrics"]["top1"] == top1, name


def test_a_class_list_of_other_classes_is_refused_naming_them(run, tmp_path, capsys):
    other = tmp_path / "classes.txt"
    other.write_text("moving_left\njumping\n")
    code = evaluate(run, tmp_path / "eval", "--dataset", "folders", "--annotations", str(run["heldout"]),
                    "--classes", str(other))
    assert code == 2
    err = capsys.readouterr().err
    assert "in the data, not in the list: 'moving_right'" in err and "in the list, not in the data: 'jumping'" in err
    assert not (tmp_path / "eval").exists()
    # a folder set needs no --video-root (and takes none); the others need one
    assert evaluate(run, tmp_path / "eval", "--dataset", "folders", "--annotations", str(run["heldout"]),
                    "--video-root", str(run["heldout"])) == 2
    assert evaluate(run, tmp_path / "eval", "--dataset", "ucf101", "--annotations", str(other)) == 2
    assert "--video-root is required" in capsys.readouterr().err
    # without --out, the folder names the transfer set (the run configuration keeps its own list of them)
    assert set(TRANSFER_SETS) == set(TRANSFER_DATASETS)
    config = RunConfig(DEMO, data=DataFiles(str(run["heldout"]), dataset="folders"), views="2x1")
    assert config.out_dir(DEMO).as_posix() == f"runs/evaluate/{DEMO}_2x1_folders"


def test_the_run_has_its_row_the_same_run_again_replaces_it_and_demo_rows_coexist(run, tmp_path, capsys):
    results = run["results"]
    rows = read_rows(results)
    assert len(rows) == 1
    row, manifest = rows[0], run["manifest"]
    assert row["source"] == SOURCE_RUN and row["run"] == str(run["out"].resolve())
    assert (row["entry"], row["dataset"], row["mode"], row["weights"]) == (DEMO, "folders", "full", "published")
    assert (row["epochs"], row["seed"], row["lr"], row["classes"], row["train_videos"], row["val_videos"]) == \
        ("1", "0", "0.01", "2", "6", "6")
    assert float(row["top1"]) == round(manifest["val"]["top1"], 2) and row["views"] == "2x1"
    assert row["command"].startswith(f"zoo finetune {DEMO} --dataset folders") and "--results" in row["command"]
    assert row["date"] == manifest["finished"][:10]
    page = (results / "finetune.md").read_text()
    assert page.startswith("<!-- Generated by") and "## Runs: `zoo finetune`" in page and row["command"] in page
    assert (results / "finetune.csv").read_text().startswith("# Generated by")

    # the demo's rows come and go together; the run's row stays
    demo = [dict(row, source=SOURCE_DEMO, run=f"runs/e1/{mode}_s0", setting=setting, command="python -m demo")
            for mode, setting in [("linear_published", "linear probe (demo checkpoint)"),
                                  ("full_published", "full fine-tune (demo checkpoint)"),
                                  ("full_none", "from scratch (same budget)")]]
    replace_demo_rows(results, demo)
    replace_demo_rows(results, demo)
    assert [r["source"] for r in read_rows(results)] == [SOURCE_DEMO] * 3 + [SOURCE_RUN]
    page = (results / "finetune.md").read_text()
    assert "## The demo transfer task" in page and "fine-tune - scratch (target >= +10)" in page and row["command"] in page

    # the same command again (finished: nothing trained, the measurement read back) replaces its row
    assert zoo_main(run["argv"]) == 0
    assert "the run's row is in" in capsys.readouterr().out
    rows = read_rows(results)
    assert [r["source"] for r in rows] == [SOURCE_DEMO] * 3 + [SOURCE_RUN] and rows[-1]["top1"] == row["top1"]
    record_run(results, dict(row, run="/elsewhere/run2"))  # another folder: another row
    assert [r["run"] for r in read_rows(results)][3:] == [row["run"], "/elsewhere/run2"]
    assert "2. `/elsewhere/run2`" in (results / "finetune.md").read_text()


def test_results_none_writes_no_row(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a if a != str(run["results"]) else "none" for a in run["argv"]]
    assert zoo_main(argv) == 0
    assert not (tmp_path / "results").exists() and len(read_rows(run["results"])) >= 1


def test_the_runs_own_val_list_is_named_as_its_own_classes(run, tmp_path):
    """The run's val.txt given without --dataset: its classes.txt beside it names other classes than
    the entry's dataset, so the result is not labelled as that dataset, nor set beside its figures."""
    assert evaluate(run, tmp_path / "eval", "--annotations", str(run["out"] / "val.txt"), "--video-root", "/") == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["dataset"] == "own classes" and metrics["published"] == {}
    assert metrics["metrics"]["top1"] == run["manifest"]["val"]["top1"] and metrics["videos"] == 6


def test_a_folder_of_the_runs_own_classes_written_before_their_name_resumes(run, tmp_path):
    """A folder whose config.json recorded the entry's dataset name for the run's own val.txt (before
    'own classes' existed) is the same evaluation: it resumes, and takes the new name."""
    argv = ("--annotations", str(run["out"] / "val.txt"), "--video-root", "/")
    assert evaluate(run, tmp_path / "eval", *argv) == 0
    config = json.loads((tmp_path / "eval" / "config.json").read_text())
    (tmp_path / "eval" / "config.json").write_text(json.dumps({**config, "dataset": "demo"}))
    assert evaluate(run, tmp_path / "eval", *argv) == 0
    assert json.loads((tmp_path / "eval" / "config.json").read_text())["dataset"] == "own classes"
