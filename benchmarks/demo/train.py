"""Train the demo model (``i3d_tiny_8x4_demo``) on the synthetic demo videos and publish it.

Renders the demo dataset (:mod:`benchmarks.demo.videos`), trains the entry's model on the
``train`` split (random clip in time, random crop in space: the usual video recipe), then
measures its accuracy on the held-out ``val`` split with the entry's full test protocol
(temporal clips uniformly spaced over the video at a 30 fps target, short side scaled to the
side size, 3 crops along the long side, mean of softmax over views), the views made by
:class:`zoo.transforms.InputSpec` from videos decoded whole here. The harness
(:mod:`benchmarks.evaluate`: its own decoder, data loader and aggregation) re-measures it in
``zoo benchmark``.

Writes into ``--out`` (default ``runs/demo_train``): the checkpoint (``model_state`` only,
plain tensors), its sha256, the exact command that made it, and ``published.json`` (the
published figures and the per-video predictions on the held-out split). The shipped ones are
the library's ``zoo/weights/i3d_tiny_8x4_demo.pyth`` (and ``.sha256``, which the catalogue
pins) and ``benchmarks/demo/COMMAND.txt`` and ``published.json``: publishing a new model is
copying the four files there.

Example (the shipped checkpoint's command, ``benchmarks/demo/COMMAND.txt``):
    $ python -m benchmarks.demo.train --epochs 30 --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.runtime.files import atomic_write

DEMO_ENTRY = "i3d_tiny_8x4_demo"
TARGET_FPS = 30  # the SlowFast test rule: clip span is frames x rate at 30 fps


def decode_frames(path: str | os.PathLike) -> tuple[torch.Tensor, float]:
    """Every frame of a video as uint8 (T, H, W, 3) RGB, and its frame rate."""
    import av

    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    return torch.from_numpy(frames), fps


def clip_span(fps: float, entry) -> float:
    """Frames of the file one clip covers: frames x rate at the 30 fps target."""
    return entry.num_frames * entry.sampling_rate * fps / TARGET_FPS


def random_clip(video: torch.Tensor, fps: float, entry, gen: torch.Generator) -> torch.Tensor:
    """A training clip: random start in time, random crop in space, normalised (3, T, crop, crop).

    ``video`` is already scaled to the entry's side size ((T, 3, H, W) float, see
    :func:`zoo.transforms.short_side_scale`), as at test time.
    """
    from zoo.transforms import normalize

    t_total, _, h, w = video.shape
    span = clip_span(fps, entry)
    start = float(torch.rand(1, generator=gen)) * max(t_total - span, 0.0)
    idx = torch.linspace(start, start + span - 1, entry.num_frames).clamp(0, t_total - 1).long()
    crop = entry.crop_size
    y0 = int(torch.randint(0, h - crop + 1, (1,), generator=gen))
    x0 = int(torch.randint(0, w - crop + 1, (1,), generator=gen))
    clip = video[idx, :, y0 : y0 + crop, x0 : x0 + crop].float().permute(1, 0, 2, 3)[None]
    return normalize(clip, entry.mean, entry.std)[0]


def read_list(annotation: Path) -> list[tuple[Path, int]]:
    rows = []
    for line in annotation.read_text().splitlines():
        rel, label = line.rsplit(" ", 1)
        rows.append((annotation.parent / rel, int(label)))
    return rows


@torch.no_grad()
def evaluate_views(model: nn.Module, videos: list[tuple[torch.Tensor, float]], entry) -> torch.Tensor:
    """Mean of softmax over every test view of each decoded video: (N, classes).

    The views are the entry's test protocol as :class:`zoo.transforms.InputSpec` defines it.
    """
    from zoo.transforms import InputSpec

    spec = InputSpec.from_entry(entry)
    model.eval()
    scores = [model(spec.views(frames, fps)).softmax(-1).mean(0) for frames, fps in videos]
    return torch.stack(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, scores.shape[1])
    hits = (scores.topk(k, dim=1).indices == labels[:, None]).any(1)
    return 100.0 * hits.float().mean().item()


def train(args: argparse.Namespace) -> dict:
    from tqdm.auto import tqdm

    import zoo
    from benchmarks.demo import videos as demo_data
    from zoo.transforms import short_side_scale, to_float_chw

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    entry = zoo.get_entry(DEMO_ENTRY)
    root = Path(args.data_root) if args.data_root else demo_data.default_root()
    annotations = demo_data.generate(root, seed=args.data_seed)

    def load(split):
        rows = read_list(annotations[split])
        videos = [decode_frames(p) for p, _ in tqdm(rows, desc=f"decode {split}", unit="video")]
        return videos, torch.tensor([label for _, label in rows])

    train_videos, train_labels = load("train")
    # scaled once, as the test protocol scales (bilinear, short side to side_size); half precision to save memory
    train_videos = [
        (short_side_scale(to_float_chw(frames), entry.side_size).half(), fps) for frames, fps in train_videos
    ]
    val_videos, val_labels = load("val")

    model = zoo.create_model(DEMO_ENTRY).train()
    steps_per_epoch = math.ceil(len(train_videos) / args.batch_size)
    total = args.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total, pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    loss_fn = nn.CrossEntropyLoss()
    bar = tqdm(total=total, desc="train", unit="step")
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_videos), generator=gen)
        for b in range(steps_per_epoch):
            ids = order[b * args.batch_size : (b + 1) * args.batch_size]
            x = torch.stack([random_clip(*train_videos[i], entry, gen) for i in ids])
            loss = loss_fn(model(x), train_labels[ids])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
    bar.close()

    scores = evaluate_views(model.eval(), val_videos, entry)
    top1, top5 = topk_accuracy(scores, val_labels, 1), topk_accuracy(scores, val_labels, 5)
    # top-5 of 5 classes is always 100: the demo table's second column is top-2 as well
    top2 = topk_accuracy(scores, val_labels, 2)
    print(f"held-out ({len(val_labels)} videos, {entry.views_label} views): top-1 {top1:.2f}  top-2 {top2:.2f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    ckpt = out / f"{DEMO_ENTRY}.pyth"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=ckpt.name + ".")
    os.close(fd)
    torch.save({"model_state": state}, tmp)
    os.replace(tmp, ckpt)
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    atomic_write(out / f"{DEMO_ENTRY}.pyth.sha256", f"{digest}  {ckpt.name}\n".encode())
    command = "python -m benchmarks.demo.train " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    atomic_write(out / "COMMAND.txt", (command + "\n").encode())

    from fvcore.nn import FlopCountAnalysis

    gflops = FlopCountAnalysis(model.eval(), torch.zeros(1, 3, entry.num_frames, entry.crop_size, entry.crop_size))
    gflops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    rows = read_list(annotations["val"])
    published = {
        "entry": DEMO_ENTRY,
        "command": command,
        "sha256": digest,
        "data_seed": args.data_seed,
        "held_out_videos": len(val_labels),
        "views": entry.views_label,
        "top1": round(top1, 2),
        "top5": round(top5, 2),
        "top2": round(top2, 2),
        "gflops": round(gflops.total() / 1e9, 4),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 4),
        "predictions": {
            str(p.relative_to(annotations["val"].parent)): {"label": label, "pred": int(s.argmax()), "score": round(float(s.max()), 4)}
            for (p, label), s in zip(rows, scores)
        },
    }
    atomic_write(out / "published.json", (json.dumps(published, indent=1) + "\n").encode())
    print(f"wrote {ckpt} (sha256 {digest}, {ckpt.stat().st_size / 1e6:.2f} MB); figures in {out / 'published.json'}")
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="where the demo videos are rendered (default: the user cache)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--out", default="runs/demo_train")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest for this tiny model)")
    train(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    start = time.time()
    code = main()
    print(f"done in {time.time() - start:.0f} s")
    sys.exit(code)
