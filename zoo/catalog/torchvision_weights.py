"""Catalogue records that name a torchvision weights enum get their published figures from it.

torchvision ships its video weights with their figures in ``weights.meta`` (accuracy, GFLOPS,
params) and their test transform in ``weights.transforms`` (resize and crop sizes, mean, std).
Copying those numbers into ``torchvision.toml`` would let the two drift apart, so a record there
names the weights (``weights = "R3D_18_Weights.KINETICS400_V1"``) and :func:`fill` reads the
rest when the catalogue loads:

- ``top1``/``top5``: ``meta["_metrics"]["Kinetics-400"]["acc@1"/"acc@5"]``;
- ``gflops``: ``meta["_ops"]`` (measured on 16 frames whatever the test clip length, see
  ``flops_input_frames`` in the toml); ``params_m``: ``meta["num_params"] / 1e6`` (exact);
- ``url``: the weights' URL; ``sha256``: the hash prefix its file name carries
  (``r3d_18-b3b3357e.pth``: the first hex digits of the file's sha256, as torch.hub checks it);
- ``crop_size``, ``resize_size``, ``side_size`` (the short side of ``resize_size``), ``mean``,
  ``std``: the arguments of ``weights.transforms`` (torchvision's ``VideoClassification``);
- ``num_classes``: ``len(meta["categories"])``.

The test-clip numbers (``clip_len``, ``frame_rate``, ``clips_per_video``) are stated only in
prose, in ``meta["_docs"]``; the toml holds them (as ``num_frames``, ``sampling_rate`` at 30 fps
and ``temporal_clips``, which name the entry) and :func:`fill` checks them against the prose.

Example:
    >>> from zoo.catalog.torchvision_weights import fill
    >>> record = fill({"name": "r3d_18_16x2_kinetics400", "weights": "R3D_18_Weights.KINETICS400_V1",
    ...                "num_frames": 16, "sampling_rate": 2, "temporal_clips": 5})
    >>> record["top1"], record["gflops"], record["sha256"], record["resize_size"]
    (63.2, 40.697, 'b3b3357e', [128, 171])
"""

from __future__ import annotations

import re
from typing import Any

#: The frame rate that ``sampling_rate`` counts frames at (PySlowFast's ``DATA.TARGET_FPS``): a
#: torchvision clip of consecutive frames at ``frame_rate`` fps is ``num_frames x (30 / frame_rate)``.
TARGET_FPS = 30.0

_DOCS_NUMBER = r"`{}=([0-9.]+)`"


def weights_enum(spec: str):
    """The torchvision weights member named ``"Enum.MEMBER"`` (e.g. ``"S3D_Weights.KINETICS400_V1"``)."""
    from torchvision.models import get_weight

    try:
        return get_weight(spec)
    except (ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"zoo/catalog/torchvision.toml: unknown torchvision weights {spec!r} ({err})") from None


def docs_protocol(weights) -> dict[str, float]:
    """``frame_rate``, ``clips_per_video`` and ``clip_len`` as ``meta["_docs"]`` states them.

    Example:
        >>> docs_protocol(weights_enum("MViT_V2_S_Weights.KINETICS400_V1"))
        {'frame_rate': 7.5, 'clips_per_video': 5.0, 'clip_len': 16.0}
    """
    docs = weights.meta.get("_docs", "")
    found = {}
    for key in ("frame_rate", "clips_per_video", "clip_len"):
        match = re.search(_DOCS_NUMBER.format(key), docs)
        if not match:
            raise ValueError(f"{weights}: meta['_docs'] does not state {key}: {docs!r}")
        found[key] = float(match.group(1))
    return found


def hash_prefix(url: str) -> str:
    """The sha256 prefix a torchvision file name carries (``name-<hex>.pth``), as torch.hub reads it."""
    match = re.search(r"-([0-9a-f]{8,})\.", url.rsplit("/", 1)[-1])
    if not match:
        raise ValueError(f"no hash prefix in the file name of {url}")
    return match.group(1)


def fill(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the figures of its ``weights`` filled in (see the module docstring)."""
    weights = weights_enum(record["weights"])
    meta = weights.meta
    name = record.get("name", record["weights"])
    metrics = meta["_metrics"]["Kinetics-400"]
    transform = dict(getattr(weights.transforms, "keywords", {}))
    from torchvision.transforms._presets import VideoClassification

    # mean/std absent from the partial are VideoClassification's defaults (the R3D/MC3/R(2+1)D/S3D weights)
    defaults = VideoClassification(crop_size=(1, 1), resize_size=(1,))
    crop_h, crop_w = transform["crop_size"]
    if crop_h != crop_w:
        raise ValueError(f"{name}: non-square crop {transform['crop_size']} is not supported")
    resize = [int(v) for v in transform["resize_size"]]
    filled = dict(record)
    filled.setdefault("config", f"torchvision.models.video {record['weights']}")
    filled.update(
        top1=float(metrics["acc@1"]),
        top5=float(metrics["acc@5"]),
        gflops=float(meta["_ops"]),
        params_m=meta["num_params"] / 1e6,
        num_params=int(meta["num_params"]),
        url=weights.url,
        sha256=hash_prefix(weights.url),
        num_classes=len(meta["categories"]),
        crop_size=int(crop_h),
        resize_size=resize,
        side_size=min(resize),
        mean=list(transform.get("mean", defaults.mean)),
        std=list(transform.get("std", defaults.std)),
    )
    docs = docs_protocol(weights)
    stated = {
        "num_frames": docs["clip_len"],
        "sampling_rate": TARGET_FPS / docs["frame_rate"],
        "temporal_clips": docs["clips_per_video"],
    }
    wrong = {k: (record.get(k), v) for k, v in stated.items() if record.get(k) != v}
    if wrong:
        detail = "; ".join(f"{k} = {have!r}, its _docs say {want:g}" for k, (have, want) in wrong.items())
        raise ValueError(f"zoo/catalog/torchvision.toml, entry {name}: {detail}")
    return filled
