"""Sharded evaluation (benchmarks.runtime.shards): torchrun with gloo on the CPU, 2 ranks, against a
single-process run of the shipped demo model on generated demo videos, bit for bit; resume
across world sizes; a rank that died; the offline merge."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.demo import videos as demo_data

from benchmarks.runtime import shards
from benchmarks.cli import main as zoo_main
from benchmarks.datasets import read_path_label_list
from benchmarks.evaluate import evaluate
from benchmarks.reproduce import DEMO_ENTRY
from zoo.input.video import torch_threads

REPO = Path(__file__).resolve().parents[1]
VIDEOS = 6


# --------------------------------------------------------------------------- helpers


def test_assign_balances_sizes_largest_first_and_deals_equal_ones_round_robin():
    # largest first onto the least loaded rank: 9 -> r0, 7 -> r1, 5 -> r1 (7+5=12), 4 -> r0 (13), 3 -> r1 (15),
    # 1 -> r0 (14); each share in index order
    weights = [5, 9, 1, 7, 3, 4]
    assert shards.assign(weights, 2) == [[1, 2, 5], [0, 3, 4]]
    assert shards.assign([0] * 5, 2) == [[0, 2, 4], [1, 3]]  # unknown sizes: round robin
    assert shards.assign([1.0] * 2, 3) == [[0], [1], []]
    split = shards.assign([(i * 37) % 11 for i in range(50)], 4)
    assert sorted(i for share in split for i in share) == list(range(50))  # every item exactly once


def test_result_files_order_dedupe_and_cut_line(tmp_path):
    (tmp_path / "scores.rank-1-of-2.jsonl").write_text('{"key": "a", "v": 2}\n{"key": "b", "v": 2}\n{"key": "c", "v"')
    (tmp_path / "scores.rank-0-of-1.jsonl").write_text('{"key": "b", "v": 1}\n')
    (tmp_path / "scores.jsonl").write_text('{"key": "a", "v": 0}\n')
    (tmp_path / "scores.rank-2-of-2.jsonl").write_text('{"key": "z"}\n')  # not a rank of a 2-rank run
    (tmp_path / "failures.jsonl").write_text("")
    names = [p.name for p in shards.result_files(tmp_path, "scores.jsonl")]
    assert names == ["scores.jsonl", "scores.rank-0-of-1.jsonl", "scores.rank-1-of-2.jsonl"]
    merged = shards.read_results(tmp_path, "scores.jsonl", repair=True)
    assert merged == {"a": {"key": "a", "v": 0}, "b": {"key": "b", "v": 1}}  # first file wins, cut line dropped
    assert (tmp_path / "scores.rank-1-of-2.jsonl").read_text().endswith('"v": 2}\n')  # repaired for appends


def test_progress_counts_whole_lines_of_the_other_ranks_only(tmp_path):
    (tmp_path / "scores.rank-1-of-2.jsonl").write_text("old\n")
    ranks = shards.Ranks(rank=0, world_size=2)
    names = shards.other_rank_files(ranks, ["scores.jsonl", "failures.jsonl"])
    assert names == ["scores.rank-1-of-2.jsonl", "failures.rank-1-of-2.jsonl"]
    progress = shards.ShardProgress(tmp_path, names, {"scores.rank-1-of-2.jsonl": 4}, interval=0)
    assert progress.poll() == 0
    with open(tmp_path / "scores.rank-1-of-2.jsonl", "a") as f:
        f.write("x\ny\npart")
    (tmp_path / "failures.rank-1-of-2.jsonl").write_text("f\n")
    assert progress.poll() == 3
    with open(tmp_path / "scores.rank-1-of-2.jsonl", "a") as f:
        f.write("ial\n")
    assert progress.poll() == 1


def test_single_process_needs_no_process_group():
    assert not shards.launched_by_torchrun({"RANK": "0", "WORLD_SIZE": "1"})
    assert shards.launched_by_torchrun({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    ranks = shards.join(None)
    assert (ranks.rank, ranks.world_size, ranks.file_name("scores.jsonl")) == (0, 1, "scores.jsonl")
    assert shards.Ranks(3, 8, 1).file_name("scores.jsonl") == "scores.rank-3-of-8.jsonl"
    assert shards.Ranks(3, 8, 1).device("cuda") == "cuda:1"  # a GPU per local rank
    with pytest.raises(ValueError, match="torchrun"):
        shards.join(True)


# --------------------------------------------------------------------------- torchrun end to end


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    """The first demo videos, plus a missing and a corrupt file (failures are merged too)."""
    root = tmp_path_factory.mktemp("demo")
    files = demo_data.generate(root, {"val": 100}, limit=VIDEOS, progress=False)
    (root / "val" / "corrupt.mp4").write_bytes(bytes(range(256)) * 8)
    lines = files["val"].read_text().splitlines()
    lines[2:2] = ["val/missing.mp4 1"]
    (root / "with_failures.txt").write_text("\n".join(lines + ["val/corrupt.mp4 4"]) + "\n")
    return root, root / "with_failures.txt"


@pytest.fixture(scope="module")
def reference(demo_set, tmp_path_factory):
    """A single-process run, one thread like each torchrun rank (the thread count changes
    the last bits of a CPU convolution, the world size must not)."""
    root, annotations = demo_set
    out = tmp_path_factory.mktemp("single")
    with torch_threads(1):
        evaluate(DEMO_ENTRY, read_path_label_list(annotations, root, name="demo"), out, pretrained=True, workers=0,
                 progress=False, log=None, distributed=False)
    return out


def _lines(out: Path) -> dict[str, str]:
    """key -> the exact JSON line, over every score file; a key twice is an error."""
    lines: dict[str, str] = {}
    for path in shards.result_files(out, "scores.jsonl"):
        for line in path.read_text().splitlines():
            key = json.loads(line)["key"]
            assert key not in lines, f"{key} scored twice"
            lines[key] = line
    return lines


def _metrics(out: Path) -> dict:
    result = json.loads((out / "metrics.json").read_text())
    result.pop("timing")
    if result["failures_file"]:
        result["failures_file"] = Path(result["failures_file"]).name  # the folders differ
    return result


def _torchrun(demo_set, out: Path, nproc: int = 2, extra=()) -> subprocess.CompletedProcess:
    root, annotations = demo_set
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "benchmarks.cli", "evaluate", DEMO_ENTRY, "--pretrained", "--annotations", str(annotations),
               "--video-root", str(root), "--workers", "0", "--out", str(out), *extra]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _one_file(out: Path) -> str:
    """The text of ``out``'s one score file: a run leaves ``scores.jsonl`` and no rank file."""
    assert [p.name for p in shards.result_files(out, "scores.jsonl")] == ["scores.jsonl"]
    assert [p.name for p in shards.result_files(out, "failures.jsonl")] == ["failures.jsonl"]
    return (out / "scores.jsonl").read_text()


def _dead_two_rank_run(source: Path, out: Path, single: dict[str, str], cut_rank_1: bool) -> None:
    """``out`` as a 2-rank run of ``source``'s job leaves it when it dies before its merge: each
    rank's file with its share (rank 0 the even videos, rank 1 the odd ones), rank 1's cut in
    the middle of its second line if ``cut_rank_1``; no scores.jsonl, no metrics."""
    out.mkdir()
    for name in ("config.json", "records.json"):
        shutil.copy(source / name, out / name)
    lines = list(single.values())
    (out / "scores.rank-0-of-2.jsonl").write_text("".join(line + "\n" for line in lines[0::2]))
    odd = lines[1::2]
    text = "".join(line + "\n" for line in odd)
    if cut_rank_1:
        text = odd[0] + "\n" + odd[1][: len(odd[1]) // 2]
    (out / "scores.rank-1-of-2.jsonl").write_text(text)


def test_two_ranks_equal_one_process_bit_for_bit_and_resume_across_world_sizes(demo_set, reference, tmp_path):
    root, annotations = demo_set
    single = _lines(reference)
    assert len(single) == VIDEOS
    reference_text = _one_file(reference)
    order = json.loads((reference / "records.json").read_text())["keys"]
    assert list(single) == [k for k in order if k in single]  # a one-process run: annotation order

    # 2 ranks from scratch: one scores.jsonl, every video once, the same bytes in the same order, the same metrics
    two = tmp_path / "two"
    run = _torchrun(demo_set, two)
    assert run.returncode == 0, run.stderr
    assert _one_file(two) == reference_text  # the rank files consolidated into it, then deleted
    assert _metrics(two) == _metrics(reference)
    assert (_metrics(two)["videos"], _metrics(two)["failed"], _metrics(two)["total"]) == (VIDEOS, 2, VIDEOS + 2)
    assert (two / "failures.jsonl").read_text() == (reference / "failures.jsonl").read_text()
    assert json.loads((two / "metrics.json").read_text())["timing"]["ranks"] == 2
    assert "(all 2 ranks): 100%" in run.stderr and f"{VIDEOS + 2}/{VIDEOS + 2}" in run.stderr  # rank 0's bar: the whole run
    assert run.stdout.count(f"over {VIDEOS}/{VIDEOS + 2} videos; 2 failed") == 1  # one summary, from rank 0

    # the offline merge gives the same metrics.json, and leaves the one file as it is
    (two / "metrics.json").unlink()
    inode = (two / "scores.jsonl").stat().st_ino
    assert zoo_main(["merge", "--out", str(two), "--quiet"]) == 0
    assert _metrics(two) == _metrics(reference)
    assert _one_file(two) == reference_text and (two / "scores.jsonl").stat().st_ino == inode

    # 2 -> 1: rank 1 died after its first video, in the middle of writing its second
    two_one = tmp_path / "two_then_one"
    _dead_two_rank_run(two, two_one, single, cut_rank_1=True)
    with torch_threads(1):
        result = evaluate(DEMO_ENTRY, read_path_label_list(annotations, root, name="demo"), two_one, pretrained=True, workers=0,
                          progress=False, log=None)
    assert result["timing"]["videos_this_run"] == len(single) // 2 - 1  # only the dead rank's unfinished videos
    assert _one_file(two_one) == reference_text
    assert _metrics(two_one) == _metrics(reference)

    # 1 -> 2, over the leftovers of a dead 2-rank run and a failure list that no longer holds
    one_two = tmp_path / "one_then_two"
    keys = list(single)
    with torch_threads(1):  # a 1-process run stopped after 2 videos
        evaluate(DEMO_ENTRY, read_path_label_list(annotations, root, name="demo"), one_two, pretrained=True, workers=0, limit=2,
                 progress=False, log=None)
    cut = single[keys[4]]
    (one_two / "scores.rank-1-of-2.jsonl").write_text(single[keys[3]] + "\n" + cut[:40])
    (one_two / "failures.rank-0-of-2.jsonl").write_text(json.dumps({"key": keys[5], "path": "x", "reason": "old"}) + "\n")
    run = _torchrun(demo_set, one_two)
    assert run.returncode == 0, run.stderr
    result = json.loads((one_two / "metrics.json").read_text())
    assert result["timing"]["videos_this_run"] == VIDEOS - 3
    assert (result["videos"], result["failed"], result["total"]) == (VIDEOS, 2, VIDEOS + 2)
    assert _one_file(one_two) == reference_text  # nothing lost, nothing twice, the same bytes, annotation order
    assert _metrics(one_two) == _metrics(reference)


KILL_AT_FIRST_RANK_FILE_DELETE = """
import os, signal, sys
from pathlib import Path
unlink = Path.unlink
def killed_on_a_rank_file(self, *args, **kwargs):
    if ".rank-" in self.name:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: as a kill from outside
    return unlink(self, *args, **kwargs)
Path.unlink = killed_on_a_rank_file
from benchmarks.evaluate import merge_results
merge_results(sys.argv[1])
"""


def test_a_merge_killed_before_deleting_the_rank_files_loses_nothing(demo_set, reference, tmp_path):
    root, annotations = demo_set
    single = _lines(reference)
    reference_text = _one_file(reference)
    out = tmp_path / "killed"
    _dead_two_rank_run(reference, out, single, cut_rank_1=False)
    keys = list(single)
    # an earlier one-process run's file too, out of annotation order (a retried failure scored last)
    (out / "scores.jsonl").write_text(single[keys[3]] + "\n" + single[keys[1]] + "\n")

    merge = subprocess.run([sys.executable, "-c", KILL_AT_FIRST_RANK_FILE_DELETE, str(out)], cwd=REPO,
                           env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert merge.returncode == -signal.SIGKILL, merge.stderr
    # killed after the consolidated file replaced the old one, before any rank file went
    assert (out / "scores.jsonl").read_text() == reference_text
    assert (out / "scores.rank-0-of-2.jsonl").exists() and (out / "scores.rank-1-of-2.jsonl").exists()
    assert not (out / "metrics.json").exists()

    # the next run (one process: another world size) reads every file, scores nothing again
    with torch_threads(1):
        result = evaluate(DEMO_ENTRY, read_path_label_list(annotations, root, name="demo"), out, pretrained=True, workers=0,
                          progress=False, log=None)
    assert result["timing"]["videos_this_run"] == 0
    assert _one_file(out) == reference_text
    assert _metrics(out) == _metrics(reference)


def test_consolidation_orders_dedupes_and_keeps_every_record(tmp_path):
    (tmp_path / "scores.jsonl").write_text('{"key": "c", "v": 0}\n{"key": "a", "v": 0}\n{"key": "x", "v"')
    (tmp_path / "scores.rank-0-of-2.jsonl").write_text('{"key": "a", "v": 1}\n{"key": "d", "v": 1}\n')
    (tmp_path / "scores.rank-1-of-2.jsonl").write_text('{"key": "b", "v": 1}\n{"key": "e", "v": 1}\n{"key": "f", "v')
    (tmp_path / "scores.rank-0-of-1.jsonl").write_text('{"key": "z", "v": 2}\n{"key": "b",  "v": 2}\n')
    merged = shards.consolidate_results(tmp_path, "scores.jsonl", ["a", "b", "c", "d", "e", "f"])
    # annotation order; the first copy of a record (result_files order), byte for byte; cut lines
    # dropped; a record of another job ("z") kept after the others, never lost
    assert (tmp_path / "scores.jsonl").read_text() == (
        '{"key": "a", "v": 0}\n{"key": "b",  "v": 2}\n{"key": "c", "v": 0}\n{"key": "d", "v": 1}\n'
        '{"key": "e", "v": 1}\n{"key": "z", "v": 2}\n')
    assert list(merged) == ["a", "b", "c", "d", "e", "z"] and merged["b"] == {"key": "b", "v": 2}
    assert [p.name for p in shards.result_files(tmp_path, "scores.jsonl")] == ["scores.jsonl"]
    assert merged == shards.read_results(tmp_path, "scores.jsonl")
    # already one file in order: left as it is (a one-process run's file is not rewritten)
    inode = (tmp_path / "scores.jsonl").stat().st_ino
    assert shards.consolidate_results(tmp_path, "scores.jsonl", ["a", "b", "c", "d", "e", "f"]) == merged
    assert (tmp_path / "scores.jsonl").stat().st_ino == inode


def test_zoo_merge_refuses_a_folder_without_an_evaluation(tmp_path, capsys):
    assert zoo_main(["merge", "--out", str(tmp_path)]) == 2
    assert "config.json is missing" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _rank_of(pid: int) -> int | None:
    try:
        env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


@pytest.mark.slow
def test_sigkill_one_rank_midway_then_rerun_finishes_only_the_missing_videos(tmp_path):
    from tests.videos import write_colour_dataset

    labels = [(i % 4, (i * 7) % 4) for i in range(10)]
    annotations = write_colour_dataset(tmp_path / "videos", labels)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", VIDEOZOO_TEST_DELAY="0.7")

    def command(nproc):
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
                "-m", "benchmarks.cli", "evaluate", "x3d_xs", "--annotations", str(annotations), "--video-root",
                str(tmp_path / "videos"), "--builder", "tests.videos:slow_colour_model", "--views", "1x1",
                "--workers", "0", "--out", str(out), "--quiet"]

    proc = subprocess.Popen(command(2), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rank1 = out / "scores.rank-1-of-2.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if rank1.exists() and rank1.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before a rank could be killed"
    victim = next(pid for pid in _children(proc.pid) if _rank_of(pid) == 1)
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # torchrun stops the job when a rank dies
    assert not (out / "metrics.json").exists()
    done_before = len(shards.read_results(out, "scores.jsonl"))
    assert 2 <= done_before < 10

    env["VIDEOZOO_TEST_DELAY"] = "0"
    rerun = subprocess.run(command(2), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    whole = tmp_path / "whole"
    subprocess.run(command(1)[:-3] + ["--out", str(whole), "--quiet"], cwd=REPO, env=env, check=True, capture_output=True)
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["timing"]["videos_this_run"] == 10 - done_before
    assert resumed["metrics"] == json.loads((whole / "metrics.json").read_text())["metrics"]
    assert resumed["videos"] == 10
    assert sorted(_lines(out)) == sorted(f"v{i}.mp4" for i in range(10))  # each video exactly once

    # another protocol into the same folder: refused by rank 0, said once (the other rank, on the same
    # machine, stops without repeating it)
    other = subprocess.run([c if c != "1x1" else "1x3" for c in command(2)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)
    assert other.returncode != 0
    assert other.stderr.count("different evaluation (views") == 1 and "rank 0 failed" not in other.stderr
    assert sorted(_lines(out)) == sorted(f"v{i}.mp4" for i in range(10))


def test_waiting_for_another_machines_file_names_it_when_it_never_comes(tmp_path):
    import threading

    later = threading.Timer(0.3, lambda: (tmp_path / "scores.rank-1-of-2.jsonl").write_text("x\n"))
    later.start()
    shards.wait_visible(tmp_path, {"scores.rank-1-of-2.jsonl": 2}, timeout_s=10)  # shows up meanwhile
    later.join()
    with pytest.raises(shards.ShardError, match=r"scores.rank-0-of-2.jsonl: written by another rank .* shares"):
        shards.wait_visible(tmp_path, {"scores.rank-0-of-2.jsonl": 1, "scores.rank-1-of-2.jsonl": 2}, timeout_s=0.5)
