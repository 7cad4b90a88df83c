"""Throughput of the AVA evaluation: keyframes/s of the input alone and of the whole loop.

Renders a small AVA-layout set (default: 2 videos, seconds 900..912 at 640x360, 30 fps, a
moving texture so decoding does real work; a 1 fps lead-in from second 0 so the annotated part
starts at second 900 as in the real files), as frame folders (JPEG) and as videos, with 3
person boxes per keyframe. Then, for each source, it reads every keyframe's clip
(:class:`zoo.input.keyframes.KeyframeClips`: decode, scale to the entry's short side) and
reports keyframes/s of the input alone, and runs :func:`benchmarks.ava.evaluate.evaluate_ava`
on the first ``--model-keyframes`` keyframes (random weights unless ``--pretrained``) and
reports keyframes/s with the share of time decoding vs in the model.

Example:
    $ python -m benchmarks.perf.ava_throughput --model slowfast_r50_8x8_ava --seconds 12 --model-keyframes 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch


def render(root: Path, videos: int, seconds: int, width: int, height: int) -> dict[str, Path]:
    """Frame folders, videos and a boxes/annotations pair of an AVA-layout set under ``root``."""
    from torchvision.io import encode_jpeg

    rng = np.random.default_rng(0)
    boxes, names = [], [f"video{v:02d}" for v in range(videos)]
    for name in names:
        texture = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2 + seconds * 30 // 2, 3), dtype=np.uint8)
        texture = np.kron(texture, np.ones((8, 8, 1), dtype=np.uint8))
        folder = root / "frames" / name
        folder.mkdir(parents=True)
        (root / "videos").mkdir(exist_ok=True)
        with av.open(str(root / "videos" / f"{name}.mp4"), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = stream.codec_context.time_base = Fraction(1, 30)
            stream.options = {"preset": "veryfast", "crf": "23", "g": "60"}
            grey = np.full((height, width, 3), 100, dtype=np.uint8)
            for t in range((900 + seconds) * 30):
                f = t - 900 * 30  # frame on the grid of second 900; before it a 1 fps grey lead-in
                if f < 0:
                    if t % 30 == 0:
                        frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
                        frame.pts = t
                        for packet in stream.encode(frame):
                            out.mux(packet)
                    continue
                image = texture[:height, f // 2 : f // 2 + width].copy()
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = t
                for packet in stream.encode(frame):
                    out.mux(packet)
                jpeg = encode_jpeg(torch.from_numpy(image).permute(2, 0, 1).contiguous(), quality=95)
                (folder / f"{name}_{f + 1:06d}.jpg").write_bytes(jpeg.numpy().tobytes())
            for packet in stream.encode():
                out.mux(packet)
        for second in range(902, 900 + seconds - 1):
            for x in (0.05, 0.35, 0.65):
                boxes.append(f"{name},{second:04d},{x:.3f},0.200,{x + 0.25:.3f},0.950,,0.95")
    (root / "boxes.csv").write_text("\n".join(boxes) + "\n")
    truth = [",".join(row.split(",")[:6]) + ",12,0" for row in boxes]
    (root / "ava_val_v2.2.csv").write_text("\n".join(truth) + "\n")
    (root / "labels.pbtxt").write_text("".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n' for c in range(1, 81)))
    return {"annotations": root / "ava_val_v2.2.csv", "boxes": root / "boxes.csv", "label_map": root / "labels.pbtxt"}


def input_only(model: str, root: Path, source: str, workers: int) -> tuple[int, float]:
    """Keyframes read (decoded, scaled) per second, no model."""
    import zoo
    from benchmarks.ava import annotations as ava
    from zoo.input.keyframes import AvaProtocol, KeyframeClips, keyframe_records

    protocol = AvaProtocol.from_entry(zoo.get_entry(model))
    records = keyframe_records(ava.read_person_boxes(root / "boxes.csv", protocol.box_threshold), protocol)
    loader = torch.utils.data.DataLoader(KeyframeClips(records, root / source, protocol), batch_size=None,
                                         num_workers=workers, collate_fn=lambda x: x)
    start = time.perf_counter()
    count = sum(1 for item in loader if "clip" in item)
    return count, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="slowfast_r50_8x8_ava")
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the rendered frames")
    parser.add_argument("--model-keyframes", type=int, default=3, help="keyframes through the model (0: input only)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    root = Path(tempfile.mkdtemp(prefix="ava_throughput_"))
    try:
        start = time.perf_counter()
        paths = render(root, args.videos, args.seconds, width, height)
        print(f"rendered {args.videos} videos x {args.seconds} s at {width}x{height} in {time.perf_counter() - start:.1f} s "
              f"({torch.get_num_threads()} torch threads)")
        for source in ("frames", "videos"):
            for workers in args.workers:
                count, seconds = input_only(args.model, root, source, workers)
                print(f"{args.model} input from {source}, {workers} workers: {count} keyframes in {seconds:.1f} s = "
                      f"{count / seconds:.2f} keyframes/s")
        if args.model_keyframes:
            from benchmarks.ava.evaluate import evaluate_ava

            for source in ("frames", "videos"):
                result = evaluate_ava(args.model, root / f"run_{source}", **paths, video_root=root / source,
                                      pretrained=args.pretrained, limit=args.model_keyframes, device=args.device,
                                      workers=args.workers[0], progress=False, log=None)
                t = result["timing"]
                print(f"{args.model} end to end from {source} on {args.device}: {t['keyframes_this_run']} keyframes in "
                      f"{t['wall_s']:.1f} s = {t['keyframes_per_s']:.3f} keyframes/s (decode {t['decode_s']:.1f} s, "
                      f"model {t['model_s']:.1f} s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
