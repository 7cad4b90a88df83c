"""AVA under torchrun (benchmarks.ava.evaluate + benchmarks.runtime.shards): 2 gloo ranks on the CPU against
a one-process run on the generated AVA-layout set (tests/ava_data.py), rows and metrics exactly;
a dead rank's half-written files resumed by one process; zoo merge and zoo reproduce on AVA."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from benchmarks.ava.evaluate import DETECTIONS_FILE, DONE_FILE, entry_boxes, evaluate_ava
from benchmarks.cli import main as zoo_main
from zoo.input.video import torch_threads
from tests import ava_data as data

REPO = Path(__file__).resolve().parents[1]
SLOW, SLOWFAST = "slow_r50_4x16_ava", "slowfast_r50_8x8_ava"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava")
    data.write_frame_folders(root / "frames")
    data.write_annotations(root / "annotations")
    return root


def files(root) -> dict:
    a = root / "annotations"
    return {"annotations": a / "ava_val_v2.2.csv", "boxes": a / "boxes.csv"}


def run_here(root, out, model_factory=data.colour_model):
    """One process, one thread (as each torchrun rank), the protocol the CLI runs."""
    with torch_threads(1):
        return evaluate_ava(SLOW, out, **files(root), video_root=root / "frames", model_factory=model_factory,
                            workers=0, progress=False, log=None)


@pytest.fixture(scope="module")
def reference(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    run_here(root, out)
    return out


def rows(out) -> list[str]:
    return (Path(out) / DETECTIONS_FILE).read_text().splitlines()


def metrics(out) -> dict:
    result = json.loads((Path(out) / "metrics.json").read_text())
    result.pop("timing")
    return result


def torchrun(root, out, builder="tests.ava_data:colour_model") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "benchmarks.cli", "evaluate", SLOW, "--dataset", "ava", "--annotations", str(files(root)["annotations"]),
               "--boxes", str(files(root)["boxes"]), "--video-root", str(root / "frames"), "--builder", builder,
               "--workers", "0", "--out", str(out), "--quiet"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def rank_files(out) -> list[str]:
    return sorted(p.name for p in Path(out).iterdir() if ".rank-" in p.name)


def test_two_ranks_equal_one_process_and_zoo_merge(root, reference, tmp_path):
    assert len(rows(reference)) == 6 * 3 * 4 and metrics(reference)["metrics"]["map"] == pytest.approx(100.0)
    out = tmp_path / "two"
    run = torchrun(root, out)
    assert run.returncode == 0, run.stderr
    timing = json.loads((out / "metrics.json").read_text())["timing"]
    assert timing["ranks"] == 2 and timing["keyframes_per_rank"] == [3, 3]  # one video each, whole
    assert rank_files(out) == []  # consolidated into detections.csv by rank 0
    assert sorted(rows(out)) == sorted(rows(reference))  # every keyframe's rows, once, the same bytes
    assert metrics(out) == metrics(reference)
    assert run.stdout.count("frame mAP 100.00") == 1  # one summary, from rank 0

    (out / "metrics.json").unlink()
    assert zoo_main(["merge", "--out", str(out), "--quiet"]) == 0
    assert metrics(out) == metrics(reference)


@pytest.mark.slow  # a second torchrun launch (~35 s on the shared machine)
def test_a_dead_rank_resumed_by_one_process(root, reference, tmp_path):
    out = tmp_path / "dead"
    run = torchrun(root, out, builder="tests.ava_data:colour_model_dying_on_rank_1")
    assert run.returncode != 0 and "rank 1 stops here" in run.stderr
    assert not (out / "metrics.json").exists()
    names = rank_files(out)
    assert "detections.rank-1-of-2.csv" in names and "keyframes_done.rank-1-of-2.csv" in names
    assert len((out / "keyframes_done.rank-0-of-2.csv").read_text().splitlines()) == 3  # rank 0: vidA, whole
    assert len((out / "keyframes_done.rank-1-of-2.csv").read_text().splitlines()) == 1  # rank 1: one of vidB's
    # killed in the middle of its second keyframe: half its rows, half a done line
    with open(out / "detections.rank-1-of-2.csv", "a") as f:
        f.write("vidB,0903,0.1,0.1,0.2,0.2,1,0.5\nvidB,0903,0.1")
    with open(out / "keyframes_done.rank-1-of-2.csv", "a") as f:
        f.write("vidB,09")

    made = []

    def counting(entry):
        made.append(data.colour_model(entry))
        return made[-1]

    result = run_here(root, out, counting)
    assert made[0].calls == 2 and result["timing"]["keyframes_this_run"] == 2  # only vidB's two unfinished
    assert rank_files(out) == []
    assert sorted(rows(out)) == sorted(rows(reference))
    assert len((out / DONE_FILE).read_text().splitlines()) == 6
    assert metrics(out) == metrics(reference)


def test_consolidation_keeps_the_first_copy_and_drops_cut_rows(tmp_path):
    from benchmarks.ava.evaluate import consolidate, read_done

    (tmp_path / DETECTIONS_FILE).write_text("a,0902,r1\n")
    (tmp_path / DONE_FILE).write_text("a,0902,10\n")
    (tmp_path / "detections.rank-0-of-2.csv").write_text("a,0902,XX\nb,0903,r2\nb,0903,r3\nc,0904,cut")
    (tmp_path / "keyframes_done.rank-0-of-2.csv").write_text("a,0902,10\nb,0903,30\nc,09")
    (tmp_path / "detections.rank-1-of-3.csv").write_text("d,0902,r4\n")  # its done file never written
    assert consolidate(tmp_path) == 1
    assert (tmp_path / DETECTIONS_FILE).read_text() == "a,0902,r1\nb,0903,r2\nb,0903,r3\n"
    assert read_done(tmp_path) == {"a,0902": 10, "b,0903": 30}
    assert rank_files(tmp_path) == []


def test_entry_boxes_per_entry_once_for_all_or_from_the_catalogue(tmp_path):
    slow, fast = zoo.get_entry(SLOW), zoo.get_entry(SLOWFAST)
    gt = tmp_path / "ava_val_v2.2.csv"
    assert entry_boxes(fast, ["all.csv", f"{SLOW}=s.csv"], gt) == "all.csv"
    assert entry_boxes(slow, ["all.csv", f"{SLOW}=s.csv"], gt) == "s.csv"
    with pytest.raises(FileNotFoundError, match="person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv"):
        entry_boxes(fast, None, gt)
    listed = tmp_path / slow.extra["ava_box_list"]
    listed.parent.mkdir(parents=True)
    listed.write_text("")
    assert entry_boxes(slow, None, gt) == str(listed)


def test_zoo_reproduce_ava_runs_both_detectors_and_the_table(root, tmp_path, capsys):
    results = tmp_path / "results"
    code = zoo_main(["reproduce", "--dataset", "ava", "--annotations", str(files(root)["annotations"]),
                     "--boxes", str(files(root)["boxes"]), "--video-root", str(root / "frames"),
                     "--builder", "tests.ava_data:colour_model", "--workers", "0", "--out", str(results)])
    assert code == 0, capsys.readouterr().err
    for name, threshold in ((SLOW, 0.9), (SLOWFAST, 0.8)):
        result = json.loads((results / "runs" / name / "metrics.json").read_text())
        assert result["metrics"]["map"] == pytest.approx(100.0) and result["keyframes"] == 6
        assert result["protocol"]["box_threshold"] == threshold  # each entry's own threshold
    table = (results / "ava.md").read_text()
    filled = [line for line in table.splitlines() if "| 100.00 " in line]
    assert len(filled) == 2


@pytest.mark.slow  # a torchrun launch of both detectors (~1 min on the shared machine)
def test_zoo_reproduce_ava_under_torchrun_rank_0_writes_the_table(root, tmp_path):
    results = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "benchmarks.cli", "reproduce", "--dataset", "ava", "--annotations", str(files(root)["annotations"]),
               "--boxes", str(files(root)["boxes"]), "--video-root", str(root / "frames"),
               "--builder", "tests.ava_data:colour_model", "--workers", "0", "--out", str(results)]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    for name in (SLOW, SLOWFAST):
        result = json.loads((results / "runs" / name / "metrics.json").read_text())
        assert result["metrics"]["map"] == pytest.approx(100.0) and result["timing"]["keyframes_per_rank"] == [3, 3]
        assert rank_files(results / "runs" / name) == []
    assert len([line for line in (results / "ava.md").read_text().splitlines() if "| 100.00 " in line]) == 2
    assert run.stdout.count("== tables") == 1
