"""zoo finetune under torchrun: 2 ranks (gloo on the CPU) share each global batch and end with the
weights one process reaches; rank 0 alone writes; validation top-1 after every epoch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.transfer.finetune import MANIFEST, MODEL_FILE, FinetuneConfig, finetune
from benchmarks.transfer.table import read_rows
from tests.videos import write_demo_class_folders
from zoo.checkpoints import read_state_dict
from zoo.input.video import torch_threads

REPO = Path(__file__).resolve().parent.parent
DEMO = "i3d_tiny_8x4_demo"
ARGS = dict(epochs=2, batch_size=4, optimizer="adamw", lr=0.01, mode="linear", workers=0, warmup_epochs=0.5,
            val_views="1x1")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """root/<class>/<video>.mp4: two of the demo's motions, 6 videos each (5 train, 1 held out)."""
    return write_demo_class_folders(tmp_path_factory.mktemp("clips"))


def test_two_ranks_reach_the_single_process_weights_and_only_rank_0_writes(folders, tmp_path):
    with torch_threads(1):
        single = finetune(FinetuneConfig(DEMO, "folders", str(folders), out=str(tmp_path / "one"), **ARGS),
                          progress=False, log=None)
    two = tmp_path / "two"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "benchmarks.cli", "finetune", DEMO, "--dataset", "folders", "--train", str(folders),
               "--out", str(two), "--quiet", "--results", str(tmp_path / "results")]
    command += [a for k, v in ARGS.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    # rank 0 alone speaks: each epoch's line (with its validation top-1) and the summary, once
    assert run.stdout.count("epoch 1/2: loss") == run.stdout.count(str(two / MODEL_FILE)) == 1
    assert run.stdout.count("val top-1") == 3
    manifest = json.loads((two / MANIFEST).read_text())
    a, b = read_state_dict(tmp_path / "one" / MODEL_FILE), read_state_dict(two / MODEL_FILE)
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert [e["clips"] for e in manifest["history"]] == [e["clips"] for e in single["history"]] == [10, 10]
    assert [e["loss"] for e in manifest["history"]] == pytest.approx([e["loss"] for e in single["history"]], abs=1e-5)
    assert all(e["val_top1"] is not None and e["val_views"] == "1x1" for e in manifest["history"])
    assert [e["val_top1"] for e in manifest["history"]] == [e["val_top1"] for e in single["history"]]
    assert manifest["val"]["videos"] == single["val"]["videos"] == 2
    assert manifest["val"]["top1"] == single["val"]["top1"]
    assert not [p.name for p in two.rglob("*rank-*")]  # the sharded measurement merged its rank files
    rows = read_rows(tmp_path / "results")  # rank 0 alone adds the run's row, naming the launcher
    assert [r["run"] for r in rows] == [str(two.resolve())] and rows[0]["top1"] == str(round(manifest["val"]["top1"], 2))
    assert rows[0]["command"].startswith("torchrun --nnodes 1 --nproc-per-node 2 -m benchmarks.cli finetune")
