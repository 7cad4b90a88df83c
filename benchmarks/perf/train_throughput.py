"""Training throughput: does the data path keep the model busy? (``zoo finetune``'s loop, on this CPU)

Three rates for one entry (default the demo model) on the demo transfer task's training videos
(:func:`benchmarks.demo.videos.generate_transfer`), each measured over whole epochs exactly as
:func:`benchmarks.transfer.finetune.finetune` runs them (:func:`benchmarks.transfer.finetune.train_loader`: one
DataLoader for all the epochs, whose ``--workers`` decoding processes read ahead across epochs,
made anew for each measurement so its start is counted; the reference's train transform):

- **data path**: clips/s of the loader alone (batches fetched and dropped);
- **model only**: training steps/s (forward, loss, backward, AdamW step: :func:`benchmarks.transfer.finetune.train_step`)
  on batches already in memory, the ceiling a training run can reach;
- **training**: steps/s of the loader and the steps together, the loop ``zoo finetune`` runs.

Each thread count runs with the CPU share ``zoo finetune --threads N`` uses
(:func:`benchmarks.transfer.finetune.cpu_share`: N torch threads for the model, the workers at the lowest
priority); the default is ``zoo finetune``'s own (the CPUs less one per worker).

The shares: the data path's clips/s against the model's (the loader's capacity: above 100% it
could keep the model busy if it had the CPU to itself), and training against model only (the
share of the model's rate a real run gets: the issue's target, >= 90%). Rounds are interleaved
(data path, model only, training, then again), and within a round the model alone runs half its
steps before training and half after, so a busy neighbour on a shared machine weighs on all
three alike (with model only measured before training alone, single rounds of the same run
ranged from 76% to 103%: the machine's speed had changed between the two); medians are
reported, with the load average.

What limits the share on this machine's 2 CPUs (demo model, 1 model thread, measured 2026-12-04,
when its step took 12.5 ms; the share was 84-89% over 7 rounds): of a 20-epoch measurement
(1.9 s), the first batch takes 55-70 ms (two forks of 8 ms each, the workers' start, 8 clips),
the DataLoader's hand-over 0.19 ms a step, and the steps run about 3% slower on average while
the workers decode beside them. Tried then, each against the DataLoader in the same session,
none beyond the rounds' spread (84-102%): a pool of forked workers sharing a ring without the
DataLoader (each batch's rows split between them, semaphores for messages), medians 91.4% and
89.7% against 89.1% and 91.4%; a cache of decoded videos (the data path 4-9x faster), 90.5%;
pinning the workers to the spare CPU; ``SCHED_IDLE`` workers.

Measured again step by step (2026-12-04, 5 runs of 4 rounds; each part as a share of the
training time): the start 2.6-4.7% (``iter()`` forks the two workers in 25-40 ms, since torch
alone makes the process 507 MB and a fork takes about 10 ms, then the first batch comes 15-50 ms
later), the hand-over 1.7-2.5% (a median 0.2-0.3 ms a step), and the steps slower by 1-14%,
typically 3-5%: the main thread is preempted 80-400 times a measurement (about 2 times with the
model alone). The slowdown is the decode's memory traffic, not its CPU time: a process decoding
training clips on the other CPU slowed the model-only step by 2.7% (median of 4), one that only
spins by 0%. Writing the index and result queues' messages in the calling thread (no feeder
threads to wake) and having the main process make the first batch itself while the workers
start (5 ms sooner) changed nothing beyond the spread either. What is left to gain on this VM is
about 3 points, less than the spread of single rounds.

Example:
    $ python -m benchmarks.perf.train_throughput --workers 2 --rounds 3 --table results/train_throughput.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import statistics
import sys
import time
from pathlib import Path


from benchmarks.datasets import read_transfer_split
from benchmarks.demo import videos
from benchmarks.runtime.cpus import cpu_model
from benchmarks.runtime.files import atomic_write
from benchmarks.transfer.finetune import (FinetuneConfig, TrainClips, build_model, cpu_share, make_optimizer, param_groups,
                                 train_loader, train_step)


def epochs_of(clips: TrainClips, config: FinetuneConfig, epochs: range):
    """The batches of ``epochs`` from one :func:`benchmarks.transfer.finetune.train_loader`, as a run makes them."""
    yield from train_loader(clips, config, epochs)


def data_path(clips: TrainClips, config: FinetuneConfig, epochs: range) -> tuple[float, int]:
    """Seconds and clips for the loader alone over ``epochs``."""
    start, seen = time.perf_counter(), 0
    for x, y in epochs_of(clips, config, epochs):
        seen += 0 if y is None else len(y)
    return time.perf_counter() - start, seen


def clip_cost(clips: TrainClips, epoch: int) -> float:
    """CPU seconds of one training clip made in this process with one torch thread (a worker's
    work: decode, scale, crop, flip, normalise), over every video once."""
    from zoo.input.video import torch_threads

    with torch_threads(1):
        start = time.process_time()
        for i in range(len(clips)):
            clips[(epoch, i)]
        return (time.process_time() - start) / len(clips)


def model_only(model, optimizer, batches: list, steps: int) -> float:
    """Seconds for ``steps`` training steps cycling through in-memory ``batches`` (after one warm-up step)."""
    train_step(model, optimizer, *batches[0])
    start = time.perf_counter()
    for i in range(steps):
        train_step(model, optimizer, *batches[i % len(batches)])
    return time.perf_counter() - start


def training(model, optimizer, clips: TrainClips, config: FinetuneConfig, epochs: range) -> tuple[float, int, int]:
    """Seconds, steps and clips for the loader and the steps together (``zoo finetune``'s loop)."""
    start, steps, seen = time.perf_counter(), 0, 0
    for x, y in epochs_of(clips, config, epochs):
        if y is None:
            continue
        train_step(model, optimizer, x, y)
        steps += 1
        seen += len(y)
    return time.perf_counter() - start, steps, seen


def share_floor(share: float) -> str:
    """``share`` as a percentage to a tenth, rounded down, so a share below the 90% target never
    prints as 90.0%.

    Example:
        >>> share_floor(0.8996), share_floor(0.9)
        ('89.9%', '90.0%')
    """
    return f"{math.floor(round(share * 1000, 6)) / 10:.1f}%"


def measure(model, optimizer, clips: TrainClips, config: FinetuneConfig, batches: list, epochs: range) -> dict:
    """One round: the data path, the model alone and training over ``epochs``, as rates and shares.

    The model alone runs twice, half its steps before training and half after, so that a change
    of the machine's speed during the round (other users' load) weighs on both rates alike."""
    d_seconds, d_clips = data_path(clips, config, epochs)
    steps = len(batches) * len(epochs)
    m_seconds = model_only(model, optimizer, batches, steps // 2)
    t_seconds, t_steps, t_clips = training(model, optimizer, clips, config, epochs)
    m_seconds += model_only(model, optimizer, batches, steps - steps // 2)
    x = {"data_clips_per_s": d_clips / d_seconds, "model_steps_per_s": steps / m_seconds,
         "model_clips_per_s": sum(len(y) for _, y in batches) * len(epochs) / m_seconds,
         "train_steps_per_s": t_steps / t_seconds, "train_clips_per_s": t_clips / t_seconds}
    x["data_share"] = x["data_clips_per_s"] / x["model_clips_per_s"]
    x["train_share"] = x["train_steps_per_s"] / x["model_steps_per_s"]
    x["clip_cpu_ms"] = 1000 * clip_cost(clips, epochs.start)
    x["model_ms_per_clip"] = 1000 / x["model_clips_per_s"]
    # the CPUs all busy, the model never waiting: clips/s <= cpus / (clip + step CPU per clip)
    x["bound_share"] = min(1.0, (os.cpu_count() or 1) / (x["clip_cpu_ms"] + x["model_ms_per_clip"]) * x["model_ms_per_clip"])
    return x


def markdown(report: dict) -> str:
    """The report as the results/ page: one section per torch thread count."""
    r = report
    head = (f"<!-- Generated by `{r['command']}` (benchmarks/perf/train_throughput.py); do not edit. -->\n"
            f"# Training throughput: {r['entry']}, {r['workers']} workers, batch {r['batch_size']}\n\n"
            f"`zoo finetune`'s loop ({r['mode']} mode) on the demo transfer task's {r['videos']} training videos "
            f"({r['epochs']} epochs per measurement, one DataLoader over all of them, its workers reading ahead across epochs, as `zoo finetune` "
            "makes it, started anew for each measurement); "
            f"{r['cpus']} CPUs" + (f" ({r['cpu']})" if r.get("cpu") else "") + f" shared with other users (load average before / after: {r['load_before']} / "
            f"{r['load_after']}); 1 torch thread per worker. Medians of {r['rounds']} interleaved rounds per "
            "thread count; in each round the model alone runs half its steps before training and half after.\n\n")
    best = max(run["medians"]["model_steps_per_s"] for run in r["runs"])
    return head + "\n".join(section(run, best) for run in r["runs"])


def section(run: dict, best_model_steps: float | None = None) -> str:
    """One thread count's figures and rounds; flagged when its model-only rate is under half the
    best thread count's (threads contending for CPUs other processes hold: its shares say nothing)."""
    m = run["medians"]
    collapsed = best_model_steps is not None and m["model_steps_per_s"] < 0.5 * best_model_steps
    rows = "\n".join(
        f"| {i + 1} | {x['data_clips_per_s']:.1f} | {x['model_steps_per_s']:.2f} ({x['model_clips_per_s']:.1f} clips/s) "
        f"| {x['train_steps_per_s']:.2f} | {x['data_share']:.0%} | {share_floor(x['train_share'])} |" for i, x in enumerate(run["rounds"]))
    verdict = "**met**" if m["train_share"] >= 0.9 else "**not met**"
    return (
        f"## torch threads {run['threads']} in the main process\n\n"
        + (f"CPUs: {run['cpus']} (as `zoo finetune --threads {run['threads']}` shares them).\n\n" if run.get("cpus") else "")
        + (f"**The model's own rate collapsed at this thread count** ({m['model_steps_per_s']:.2f} steps/s against "
           f"{best_model_steps:.2f} at the best one: its threads wait on CPUs other processes hold), so the shares "
           "below compare a starved model with the loader and say nothing about the data path.\n\n" if collapsed else "")
        + f"- data path (loader alone): **{m['data_clips_per_s']:.1f} clips/s**\n"
        f"- model only (batches in memory): **{m['model_steps_per_s']:.2f} steps/s** = {m['model_clips_per_s']:.1f} clips/s\n"
        f"- training (loader + steps): **{m['train_steps_per_s']:.2f} steps/s** = {m['train_clips_per_s']:.1f} clips/s\n"
        f"- data path / model only: **{m['data_share']:.0%}** (the loader's capacity against the model's demand)\n"
        f"- training / model only: **{share_floor(m['train_share'])}** (target >= 90%: {verdict})\n"
        f"- CPU per clip: making it {m['clip_cpu_ms']:.2f} ms (one thread), the model's step (wall time, taken as its CPU) {m['model_ms_per_clip']:.2f} ms: "
        f"with every CPU busy and the model never waiting, the loop could reach at most **{m['bound_share']:.0%}** of "
        "model only on this machine's CPUs if nothing else ran on them\n\n"
        "| round | data path clips/s | model-only steps/s | training steps/s | data / model | training / model |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entry", default="i3d_tiny_8x4_demo")
    p.add_argument("--root", default=str(videos.default_root().parent / "demo_transfer"))
    p.add_argument("--per-class", type=int, default=16, help="training videos per class (rendered once, cached)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--mode", choices=["full", "linear"], default="full")
    p.add_argument("--epochs", type=int, default=20, help="epochs per measurement (a run trains 15-40: its start weighs little)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+",
                   help="torch threads in the main process, one measurement each (default `zoo finetune`'s: "
                   "the CPUs less one per worker); the workers at the lowest priority, as in `zoo finetune`")
    p.add_argument("--report", help="write the figures as JSON here")
    p.add_argument("--table", help="write the Markdown page here")
    p.add_argument("--render", help="write --table from this --report file (no measurement)")
    args = p.parse_args(argv)
    if args.render:
        text = markdown(json.loads(Path(args.render).read_text()))
        if args.table:
            atomic_write(args.table, text)
        print(text)
        return 0
    folder = videos.generate_transfer(Path(args.root) / "throughput", {"train": args.per_class}, progress=False)["train"]
    dataset = read_transfer_split("folders", str(folder), subset="all")
    config = FinetuneConfig(args.entry, "folders", str(folder), batch_size=args.batch_size, workers=args.workers,
                            mode=args.mode, optimizer="adamw", evaluate=False)
    from zoo import get_entry
    from zoo.input.training import TrainSpec
    from zoo.scoring import head_logits

    clips = TrainClips(dataset.records, TrainSpec.from_entry(get_entry(args.entry)), config.seed)
    model = build_model(config, len(dataset.classes))
    optimizer = make_optimizer(param_groups(model, config), config)
    model.eval() if args.mode == "linear" else model.train()
    batches = [(x, y) for x, y in epochs_of(clips, config, range(1)) if y is not None]  # the model-only inputs
    load_before = os.getloadavg()
    runs, epoch = [], 1
    for threads in args.threads or [cpu_share(config).model_threads]:
        run_config = dataclasses.replace(config, threads=threads)
        share = cpu_share(run_config)
        rounds = []
        with share.applied(), head_logits(model):  # trained on logits, as `zoo finetune` trains (X3D's softmax head)
            for r in range(args.rounds):
                epochs = range(epoch, epoch + args.epochs)
                epoch += args.epochs
                rounds.append(measure(model, optimizer, clips, run_config, batches, epochs))
                print(f"threads {threads}, round {r + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in rounds[-1].items()),
                      flush=True)
        runs.append({"threads": threads, "cpus": share.describe(), "rounds": rounds,
                     "medians": {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}})
    command = "python -m benchmarks.perf.train_throughput " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report = {"command": command.strip(), "entry": args.entry, "workers": args.workers, "batch_size": args.batch_size,
              "mode": args.mode, "videos": len(dataset.records), "epochs": args.epochs, "cpus": os.cpu_count(),
              "cpu": cpu_model(),
              "rounds": args.rounds, "load_before": " ".join(f"{v:.2f}" for v in load_before),
              "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg()), "runs": runs}
    if args.report:
        atomic_write(args.report, json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    if args.table:
        atomic_write(args.table, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
