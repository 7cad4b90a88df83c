"""Reduced precision checked where it matters: does bf16/fp16 pick the same class as fp32?

A reduced-precision run cannot match fp32 outputs to 1e-4, so ``zoo speed --dtype bf16``
reports, beside its speed, the top-1 agreement with fp32 on the demo set: the demo entry
(its shipped, trained checkpoint) evaluated with the full multi-view protocol on the demo's
held-out videos, once in fp32 with the plain model and once in the reduced dtype with the
fast paths, then the two score files compared video by video.

Example:
    >>> from benchmarks.perf.agreement import top1_agreement
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = lambda s: "".join(json.dumps({"key": k, "label": 0, "scores": v}) + "\\n" for k, v in s.items())
    >>> _ = (d / "a.jsonl").write_text(rows({"x": [0.9, 0.1], "y": [0.2, 0.8]}))
    >>> _ = (d / "b.jsonl").write_text(rows({"x": [0.7, 0.3], "y": [0.6, 0.4]}))
    >>> r = top1_agreement(d / "a.jsonl", d / "b.jsonl")
    >>> (r["videos"], r["top1_agreement"], r["top1_a"], r["top1_b"])
    (2, 0.5, 50.0, 100.0)
"""

from __future__ import annotations

from pathlib import Path


def _argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)


def top1_agreement(scores_a: str | Path, scores_b: str | Path) -> dict:
    """Compare two ``scores.jsonl`` files over the videos both scored.

    Returns ``videos``, ``top1_agreement`` (fraction of videos whose top class is the same),
    ``top1_a``/``top1_b`` (top-1 accuracy of each, in %, single-label files) and
    ``max_abs_diff`` (largest difference of an aggregated score).
    """
    from benchmarks.evaluate import read_scores

    a, b = read_scores(scores_a, repair=False), read_scores(scores_b, repair=False)
    keys = [k for k in a if k in b]
    if not keys:
        raise ValueError(f"{scores_a} and {scores_b} have no video in common")
    same = right_a = right_b = 0
    diff = 0.0
    for key in keys:
        sa, sb = a[key]["scores"], b[key]["scores"]
        ta, tb = _argmax(sa), _argmax(sb)
        same += ta == tb
        label = a[key]["label"]
        right_a += ta == label
        right_b += tb == label
        diff = max(diff, max(abs(x - y) for x, y in zip(sa, sb, strict=True)))
    n = len(keys)
    return {"videos": n, "top1_agreement": same / n, "top1_a": 100.0 * right_a / n, "top1_b": 100.0 * right_b / n,
            "max_abs_diff": diff}


def demo_agreement(out: str | Path, *, dtype: str, device: str = "cpu", fast: bool = True, videos: int | None = None,
                   data_root: str | Path | None = None, workers: int = 1, progress: bool = False) -> dict:
    """Evaluate the demo entry in fp32 (plain) and in ``dtype`` (``fast`` paths too) under
    ``out/fp32`` and ``out/<dtype>``; return :func:`top1_agreement` of the two with ``dtype``.
    """
    from benchmarks.evaluate import SCORES_FILE
    from benchmarks.reproduce import DEMO_ENTRY, evaluate_demo, run_dir

    import contextlib

    from zoo.fast import exact_fp32

    out = Path(out)
    runs = {}
    for tag, options in (("fp32", {}), (dtype, {"dtype": dtype, "fast": fast})):
        # the fp32 side is full fp32 on a GPU too (cuDNN would use TF32 by default)
        with exact_fp32(device) if tag == "fp32" else contextlib.nullcontext():
            evaluate_demo(out / tag, data_root=data_root, videos=videos, workers=workers, progress=progress,
                          device=device, **options)
        runs[tag] = run_dir(out / tag, DEMO_ENTRY) / SCORES_FILE
    result = top1_agreement(runs["fp32"], runs[dtype])
    return {"name": DEMO_ENTRY, "dtype": dtype, "device": device, "fast": fast, **result}
