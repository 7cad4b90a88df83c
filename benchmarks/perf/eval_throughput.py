"""Throughput of a multi-view evaluation: videos/s, and time decoding vs in the model.

Renders a small set of synthetic videos (default: 8 videos, 10 s, 320x240, 30 fps, H.264,
moving texture so decoding does real work), then evaluates an entry on them with
:func:`benchmarks.evaluate.evaluate` (random weights unless ``--pretrained``) once per
``--workers`` setting, and prints videos/s plus the share of time decoding (decode, frame
selection, scaling, cropping, normalising: the DataLoader worker's job) vs in the model.
With 0 workers and the model on the CPU the two run one after the other, so their shares add
up to the wall time; with workers (or 0 workers and a GPU model: a decoding thread one video
ahead) they overlap and videos/s shows what the overlap buys.

The *model-only* rate is the same model on the same views with no decoding at all (the views
decoded beforehand, only the forward passes timed): the ceiling an evaluation can reach. Each
run's videos/s is also given as a share of it (issue 12's end-to-end target: X3D-XS 10x3
with 2 workers within 10% of it), over the whole run and after the first video: a short run
also pays for starting (workers forking, the first decode with the model idle, the first
pass after the fork touching copy-on-write pages), which a long evaluation does not feel.
``--fast`` runs the model through :func:`zoo.optimize`.

Example:
    $ python -m benchmarks.perf.eval_throughput --model x3d_xs --views 10x3 --videos 8 --workers 0 2 --fast --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from benchmarks.runtime.files import atomic_path, atomic_write


def render_video(path: Path, seconds: float, width: int, height: int, fps: int, seed: int) -> None:
    """A textured scene panning and a bright square moving across it (realistic decode cost)."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2 + int(seconds * fps), 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), dtype=np.uint8))  # 8x8 blocks: compressible, not trivial
    # rendered beside and renamed: a killed render must not leave a short video that the next run reuses
    with atomic_path(path, suffix=path.suffix) as tmp, av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": str(fps * 2)}
        for t in range(int(seconds * fps)):
            frame = texture[:height, t : t + width].copy()
            x = (t * 4) % (width - 40)
            frame[100:140, x : x + 40] = (255, 220, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def markdown_table(report: dict) -> str:
    """The report as a Markdown table: one row per run, medians over the rounds."""
    def value(v, fmt):
        return format(v, fmt) if v is not None else "n/a"

    lines = [
        f"# End-to-end evaluation throughput: {report['model']}, {report['views']} views",
        "",
        f"{report['videos']} rendered videos of {report['seconds']:g} s {report['size']} @ {report['fps']} fps (H.264); "
        f"model on {report['device']}, {report['batch_size']} views per pass{', fast paths' if report['fast'] else ''}; "
        f"{report['cpus']} CPUs, torch threads {report['torch_threads']}. Medians of {len(report['rounds'])} rounds; "
        "each run is compared with the model-only rate (views decoded beforehand) of its own round. "
        "*After the first video*: the rate once the first video's scores are out (workers started, first "
        f"decode and pass done), what a long evaluation runs at. Made by `{report.get('command', 'python -m benchmarks.perf.eval_throughput')}`.",
        "",
        f"Model only: {report['model_only_videos_per_s']:.3f} videos/s.",
        "",
        "| workers | view buffers | videos/s | share of model-only | after the first video | share | "
        "first video (s) | workers' CPU per video (s) | shares by round (after the first video) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        rounds = ", ".join(_percent(v) for v in r["steady_share_of_model_only_each_round"])
        lines.append(
            f"| {r['workers']} | {value(r['view_buffers'], 'd')} | {r['videos_per_s']:.3f} | {_percent(r['share_of_model_only'])} "
            f"| {value(r['steady_videos_per_s'], '.3f')} | {_percent(r['steady_share_of_model_only'])} "
            f"| {value(r['first_video_s'], '.1f')} | {value(r['workers_cpu_s_per_video'], '.3f')} | {rounds} |"
        )
    return "\n".join(lines) + "\n"


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's ended children: DataLoader workers."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median(values):
    """Median of the values that are there (None where no round had one)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _percent(share) -> str:
    return f"{100 * share:.0f}%" if share is not None else "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="x3d_xs")
    parser.add_argument("--views", default="10x3")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the rendered videos")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads for the model (default: torch's)")
    parser.add_argument("--fast", action="store_true", help="zoo.optimize the model (compiled for the views' batch)")
    parser.add_argument("--device", default="cpu", help="where the model runs (cpu, cuda); decoding stays on the CPU")
    parser.add_argument("--batch-size", type=int,
                        help="views per forward pass, filled across videos (default: one video's views)")
    parser.add_argument("--report", help="also write the JSON report here (default: only in --work-dir)")
    parser.add_argument("--view-buffers", type=int, nargs="+",
                        help="with workers: shared-memory buffers each keeps for its views (benchmarks.runtime.view_buffers; "
                             "0 = torch's fresh copy per video); several values: one run each (default: the default)")
    parser.add_argument("--table", help="also write the runs as a Markdown table here (e.g. results/eval_throughput.md)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (model alone, each --workers run); medians")
    parser.add_argument("--work-dir", help="keep videos and results here (default: a temporary folder)")
    args = parser.parse_args(argv)

    import torch

    import zoo
    from benchmarks.datasets import read_path_label_list
    from benchmarks.evaluate import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="eval_throughput_"))
    videos = work / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(args.videos):
        path = videos / f"v{i:03d}.mp4"
        if not path.exists():
            render_video(path, args.seconds, width, height, args.fps, seed=i)
        lines.append(f"{path.name} {i % 400}")
    atomic_write(videos / "list.txt", "\n".join(lines) + "\n")
    dataset = read_path_label_list(videos / "list.txt", videos, name="synthetic")
    entry = zoo.get_entry(args.model)
    torch.manual_seed(0)
    model = zoo.create_model(entry.name, pretrained=args.pretrained).eval().to(args.device)
    from zoo.scoring import output_activation, view_scorer
    from zoo.input.video import read_views
    from zoo.transforms import InputSpec
    from zoo.view_batches import ViewBatcher

    spec = InputSpec.from_entry(entry, args.views)
    all_views = [read_views(r.path, spec)[0] for r in dataset.records]
    batch = args.batch_size or spec.num_views
    if args.fast:  # compiled (and on a GPU captured) for one full pass of views

        def one_pass(views):
            return views.repeat(-(-batch // views.shape[0]), *[1] * (views.dim() - 1))[:batch].to(args.device)

        first = all_views[0]
        model = zoo.optimize(model, [one_pass(v) for v in first] if isinstance(first, list) else one_pass(first),
                             device=args.device)
    scorer = view_scorer(model, activation=output_activation(model), multilabel=False, device=args.device)

    def synchronize():
        if str(args.device).startswith("cuda"):
            torch.cuda.synchronize(args.device)

    def model_alone() -> float:  # the evaluation's forward passes, on views decoded beforehand
        batcher = ViewBatcher(scorer, args.batch_size)
        synchronize()
        start = time.perf_counter()
        for i, views in enumerate(all_views):
            batcher.add(i, views)
        batcher.flush()
        synchronize()
        return len(all_views) / (time.perf_counter() - start)

    model_alone()  # warm-up (a last, shorter pass included)

    from benchmarks.runtime import view_buffers
    def evaluation(workers: int, buffers: int | None) -> dict:
        out = work / f"run_w{workers}" if buffers is None else work / f"run_w{workers}_b{buffers}"
        default_buffers = view_buffers.DEFAULT_LIMIT
        if buffers is not None:  # read by each worker (forked after this) when it makes its pool
            view_buffers.DEFAULT_LIMIT = buffers
        shutil.rmtree(out, ignore_errors=True)
        children = _children_cpu_s()
        start = time.perf_counter()
        try:
            result = evaluate(entry, dataset, out, model=model, views=args.views, workers=workers, log=None,
                              device=args.device, batch_size=args.batch_size)
        finally:
            view_buffers.DEFAULT_LIMIT = default_buffers
        wall = time.perf_counter() - start
        # the workers have exited by now, so their CPU time is counted: decode + views + hand-off
        workers_cpu = _children_cpu_s() - children
        timing = result["timing"]
        busy = timing["decode_s"] + timing["model_s"]
        return {
            "workers": workers,
            "view_buffers": (buffers if buffers is not None else default_buffers) if workers else None,
            "videos": result["videos"],
            "videos_per_s": result["videos"] / wall,
            "wall_s": wall,
            "decode_s_per_video": timing["decode_s"] / result["videos"],
            "workers_cpu_s_per_video": workers_cpu / result["videos"] if workers else None,
            "model_s_per_video": timing["model_s"] / result["videos"],
            "decode_share": timing["decode_s"] / busy,
            "model_share": timing["model_s"] / busy,
            "first_video_s": timing["first_video_s"],
            "steady_videos_per_s": timing["steady_videos_per_s"],
        }

    # Rounds of (model alone, each workers setting) back to back: each run is compared with the
    # model-only rate of its own round, so that load from other processes hits both alike.
    # view buffers only matter with workers: one run per value there, one run without
    settings = [(w, b) for w in args.workers for b in ((args.view_buffers or [None]) if w else [None])]
    rounds = []
    for _ in range(args.rounds):
        rate = model_alone()
        runs = [evaluation(w, b) for w, b in settings]
        for run in runs:
            run["share_of_model_only"] = run["videos_per_s"] / rate
            steady = run["steady_videos_per_s"]  # None when every video finished in the first pass
            run["steady_share_of_model_only"] = steady / rate if steady is not None else None
        rounds.append({"model_only_videos_per_s": rate, "runs": runs})
    model_only = statistics.median(r["model_only_videos_per_s"] for r in rounds)
    rows = []
    for k, (workers, _) in enumerate(settings):
        runs = [r["runs"][k] for r in rounds]
        row = {key: _median(run[key] for run in runs) for key in runs[0] if key not in ("workers", "view_buffers")}
        row["workers"], row["view_buffers"] = workers, runs[0]["view_buffers"]
        row["share_of_model_only_each_round"] = [run["share_of_model_only"] for run in runs]
        row["steady_share_of_model_only_each_round"] = [run["steady_share_of_model_only"] for run in runs]
        rows.append(row)
    report = {
        "command": " ".join(["python -m benchmarks.perf.eval_throughput", *(sys.argv[1:] if argv is None else argv)]),
        "model": entry.name, "views": args.views, "videos": args.videos, "seconds": args.seconds,
        "size": args.size, "fps": args.fps, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "device": args.device, "batch_size": batch, "fast": args.fast, "model_only_videos_per_s": model_only, "runs": rows, "rounds": rounds,
    }
    atomic_write(work / "throughput.json", json.dumps(report, indent=2) + "\n")

    if args.report:
        atomic_write(Path(args.report), json.dumps(report, indent=2) + "\n")
    if args.table:
        atomic_write(Path(args.table), markdown_table(report))
    print(f"{entry.name}, {args.views} views, {args.videos} videos of {args.seconds:g} s {args.size} @ {args.fps} fps, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, model on {args.device}, "
          f"{batch} views per pass{', fast paths' if args.fast else ''}:")
    print(f"  model only (views decoded beforehand): {model_only:.3f} videos/s"
          + (f" (median of {args.rounds} rounds; each run is compared with its own round's)" if args.rounds > 1 else ""))
    for r in rows:
        buffers = f", view buffers {r['view_buffers']}" if r["workers"] and args.view_buffers else ""
        print(f"  workers={r['workers']}{buffers}: {r['videos_per_s']:.3f} videos/s ({r['wall_s']:.1f} s); per video "
              f"decode+views {r['decode_s_per_video']:.2f} s ({100 * r['decode_share']:.0f}%), "
              f"model {r['model_s_per_video']:.2f} s ({100 * r['model_share']:.0f}%)"
              + (f", workers' CPU {r['workers_cpu_s_per_video']:.3f} s" if r["workers_cpu_s_per_video"] is not None else "")
              + "; "
              f"{100 * r['share_of_model_only']:.0f}% of the model-only rate"
              + (f" (rounds: {', '.join(f'{100 * v:.0f}%' for v in r['share_of_model_only_each_round'])})"
                 if args.rounds > 1 else ""))
        if r["steady_videos_per_s"] is not None:
            print(f"    after the first video ({r['first_video_s']:.1f} s: workers starting, first decode and pass): "
                  f"{r['steady_videos_per_s']:.3f} videos/s, {100 * r['steady_share_of_model_only']:.0f}% of the "
                  "model-only rate" + (f" (rounds: {', '.join(_percent(v) for v in r['steady_share_of_model_only_each_round'])})"
                                       if args.rounds > 1 else ""))
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
