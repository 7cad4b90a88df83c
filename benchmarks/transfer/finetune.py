"""``zoo finetune``: an entry's weights with a new head, trained on UCF101, HMDB51 or a user's classes.

The model is :func:`zoo.create_model` with ``num_classes`` set to the dataset's classes: the
published (or a given) checkpoint's every weight but the head (:func:`zoo.checkpoints.load_backbone`),
a fresh head. ``--mode linear`` trains the head alone (the backbone frozen and kept in eval
mode, so its BatchNorm statistics stay the pretrained ones); ``--mode full`` trains everything,
the backbone at ``backbone_lr_scale`` times the head's learning rate. ``--head-epochs N`` (full
mode) makes it LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features and
Underperform Out-of-Distribution"): the first ``N`` epochs train the head alone exactly as
linear mode does, the rest everything; one schedule runs over all the epochs, so the budget is
that of the other modes.

Training clips are the reference's train transform (:mod:`zoo.input.training`: random clip
start, short-side scale jitter, random crop, flip, at the sizes and flip rate of the entry's
trainer; the entry's frames, rate, mean/std and pathways), decoded in DataLoader workers; the clip of video ``i`` in epoch ``e`` comes from a
generator seeded by ``(seed, e, i)`` and the epoch's order and dropout from ``(seed, e)``, so
a run is the same whatever the number of workers (at the same model threads, ``--threads``),
and a resumed one the same as an uninterrupted one. SGD (momentum 0.9) or AdamW, a linear warm-up then a cosine decay per
step, bf16 autocast on a GPU. The loss is the cross-entropy of the head's logits: X3D's and
R(2+1)D's heads end in a softmax in every mode, which PySlowFast (their trainer) applies at test
time only, so the steps run with it set aside (:func:`zoo.scoring.head_logits`) and the
validation scores the model's outputs as the harness does (:func:`zoo.scoring.view_scores`).

It is a plain PyTorch loop rather than Lightning (which PyTorchVideo's tutorial uses): the
zoo's evaluation, checkpoints and run folders are plain PyTorch already, a loop of a hundred
lines is all the training needs, and it keeps the dependency set and the exact order of
random draws (which the resume guarantee rests on) under our control.

The run folder (``--out``):

- ``train_state.pt``: model, optimizer, schedule and history after the last finished epoch,
  written atomically each epoch (the resume point: rerun the same command after a kill), with
  the hyper-parameters, the training clip and the loss its epochs were trained with: a resume
  that differs in any of them is refused (:func:`check_resumed_training`);
- ``model.pyth``: the result in the zoo's layout (``{"model_state": ...}``), loadable by
  ``zoo.create_model(name, checkpoint=...)`` (the head's size is read from the file) and by
  ``zoo predict --checkpoint ... --classes classes.txt`` / ``zoo evaluate``;
- ``classes.txt`` (class names in index order), ``val.txt`` (the validation videos as a
  ``path label`` list, absolute paths, for ``zoo evaluate --annotations val.txt --video-root /``);
- ``manifest.json``: entry, mode, classes, data, hyper-parameters, versions, per-epoch history,
  the harness's multi-view accuracy on the validation videos (``eval/``) and when it finished;
- ``train_unreadable.txt``, when some training videos cannot be opened (missing, empty, not a
  video: :func:`readable_training_set`): each with its reason. The run trains on the rest and
  says so; a class left with none is refused. (A validation video that fails is named in
  ``eval/failures.jsonl``, as in any evaluation.)

Ctrl-C stops a run as a kill does: rerun the same command to resume from the last finished epoch.

The command line then adds the run's row to ``results/finetune.csv`` and remakes
``results/finetune.md`` (``--results DIR``; ``none`` skips; :mod:`benchmarks.transfer.table`):
the same run folder again replaces its row. Measure the checkpoint on other data with
``zoo evaluate NAME --checkpoint RUN/model.pyth --classes RUN/classes.txt --dataset
ucf101|hmdb51|folders ...``, in the class order it trained with.

Example:
    $ zoo finetune x3d_xs --dataset ucf101 --train ucfTrainTestlist/trainlist01.txt \\
        --val ucfTrainTestlist/testlist01.txt --video-root UCF-101 --out runs/x3d_xs_ucf101 --mode full
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import dataclasses
import importlib
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from benchmarks.datasets import TRANSFER_DATASETS, AnnotationError, VideoDataset, read_transfer_split
from benchmarks.run_config import default_device, describe_differences, differences
from benchmarks.runtime.files import atomic_path, atomic_write, write_json_atomic
from benchmarks.runtime.cpus import CpuShare, cpu_model
from benchmarks.runtime.batch_slots import SlotLoader
from benchmarks.runtime.workers import decoding_worker_init
from zoo.classes import CLASSES_BESIDE_CHECKPOINT

TRAIN_STATE = "train_state.pt"
#: The layers whose parameters PySlowFast's ``BN.WEIGHT_DECAY`` applies to (its ``_NormBase``).
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
               nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
#: Normalisation layers (:func:`spared_from_decay`'s ``"1d"`` rule).
NORMS = (*BATCH_NORMS, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
#: ``FinetuneConfig.weight_decay_rule``'s choices (:func:`decay_groups`).
WEIGHT_DECAY_RULES = ("reference", "all")
#: The training loss, as a train state records it. States written before it was recorded took
#: it on X3D's and R(2+1)D's softmax output (their heads apply softmax in every mode).
LOSS = "cross-entropy on the head's logits"
MODEL_FILE = "model.pyth"
CLASSES_FILE = CLASSES_BESIDE_CHECKPOINT  # where zoo.create_model(checkpoint=...) reads the names
VAL_LIST = "val.txt"
MANIFEST = "manifest.json"
#: The training videos a run left out because they cannot be opened: ``path<TAB>reason`` lines.
UNREADABLE_FILE = "train_unreadable.txt"


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run (the ``zoo finetune`` arguments).

    ``dataset``: ``ucf101`` | ``hmdb51`` | ``folders`` (:func:`benchmarks.datasets.read_transfer_split`);
    ``train``/``val``: the split lists (UCF101), the splits folder (HMDB51, ``split`` 1-3) or
    class-folder roots (``val`` None: the held-out ``val_fraction`` of ``train``);
    ``weights``: ``"published"``, ``"none"`` (from scratch) or a checkpoint source;
    ``mode``: ``"linear"`` or ``"full"``; ``lr``: the head's peak learning rate
    (``backbone_lr_scale`` times it for the backbone in full mode); ``head_epochs`` (full mode):
    the first epochs train the head alone as linear mode does (backbone frozen, model in eval
    mode), the rest everything (LP-FT), the same schedule over all; ``warmup_epochs`` of linear
    warm-up, then cosine to zero; ``val_views``: the harness's views for the final measurement
    (default the entry's); ``crop_size``: the training crop (default the entry's config's training crop, :meth:`zoo.input.training.TrainSpec.from_entry`);
    ``epoch_val_views``: the views of the validation top-1 after each epoch (progress bar and
    history; ``None``: none), which no weight depends on; ``threads``: on a CPU, the model's
    torch threads (default the CPUs less one per worker; the workers decode at low priority:
    :func:`cpu_share`); ``cached_features`` (linear mode): embed each training video once, with
    ``feature_views`` (default the entry's test views), and train the head on the embeddings
    (:mod:`benchmarks.transfer.linear_probe`); ``weight_decay_rule``: which parameters ``weight_decay``
    applies to (:func:`decay_groups`): ``"reference"``, all but those the entry's own trainer
    spared (PySlowFast: BatchNorm's, and for MViT every bias and 1-D parameter; Video Swin:
    norms and relative position tables; torchvision's recipe: none), or ``"all"``, every
    parameter alike (the runs made before the rule existed).

    Example:
        >>> FinetuneConfig("x3d_xs", "folders", "clips/").hyper_parameters()["optimizer"]
        'sgd'
    """

    entry: str
    dataset: str
    train: str
    val: str | None = None
    video_root: str | None = None
    split: int = 1
    val_fraction: float = 0.2
    out: str = "runs/finetune"
    mode: str = "full"
    weights: str = "published"
    epochs: int = 10
    batch_size: int = 8
    optimizer: str = "sgd"
    lr: float = 0.01
    backbone_lr_scale: float = 0.1
    head_epochs: int = 0
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    crop_size: int | None = None
    workers: int = 2
    threads: int | None = None
    seed: int = 0
    device: str = "cpu"
    val_views: str | None = None
    evaluate: bool = True
    epoch_val_views: str | None = "1x1"
    cached_features: bool = False
    feature_views: str | None = None
    weight_decay_rule: str = "reference"

    def __post_init__(self):
        if self.dataset not in TRANSFER_DATASETS:
            raise ValueError(f"dataset must be one of {TRANSFER_DATASETS}, got {self.dataset!r}")
        if self.mode not in ("linear", "full"):
            raise ValueError(f"mode must be linear or full, got {self.mode!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be sgd or adamw, got {self.optimizer!r}")
        if self.weight_decay_rule not in WEIGHT_DECAY_RULES:
            raise ValueError(f"weight_decay_rule must be one of {WEIGHT_DECAY_RULES}, got {self.weight_decay_rule!r}")
        if self.cached_features and self.mode != "linear":
            raise ValueError("--cached-features is for --mode linear (a full fine-tune changes the embeddings as it trains)")
        if self.feature_views and not self.cached_features:
            raise ValueError("--feature-views is for --cached-features (the views each training video is embedded with)")
        if self.head_epochs and self.mode != "full":
            raise ValueError("--head-epochs is for --mode full (--mode linear trains the head alone throughout)")
        if not 0 <= self.head_epochs < self.epochs:
            raise ValueError(f"--head-epochs must be at least 0 and fewer than the {self.epochs} epochs, "
                             f"got {self.head_epochs} (all of them: --mode linear)")

    def hyper_parameters(self) -> dict:
        """What a resume must agree on (everything but where and how fast it runs)."""
        skip = {"out", "workers", "threads", "device", "evaluate", "epoch_val_views"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    def same_run(self, saved: dict | None) -> bool:
        """Whether ``saved`` (the ``hyper_parameters`` of a train state or a manifest, as read
        back) are this run's; one written before a field existed holds that field's
        :data:`ADDED_HYPER_PARAMETERS` value.

        Example:
            >>> config = FinetuneConfig("x3d_xs", "folders", "clips/")
            >>> old = {k: v for k, v in config.hyper_parameters().items() if k != "head_epochs"}
            >>> config.same_run(old), dataclasses.replace(config, head_epochs=2).same_run(old)
            (True, False)
        """
        return saved is not None and not self.differences(saved)

    def differences(self, saved: dict) -> dict[str, tuple]:
        """The hyper-parameters in which ``saved`` (as :meth:`same_run` reads it) differs from
        this run's: name -> (saved, this run's).

        Example:
            >>> config = FinetuneConfig("x3d_xs", "folders", "clips/")
            >>> dataclasses.replace(config, lr=0.5).differences(config.hyper_parameters())
            {'lr': (0.01, 0.5)}
        """
        return differences({**ADDED_HYPER_PARAMETERS, **saved}, self.hyper_parameters())

    def refusal(self, out, saved: dict) -> str:
        """Why a resume of the run in ``out`` (whose hyper-parameters are ``saved``) is refused.

        Example:
            >>> config = FinetuneConfig("x3d_xs", "folders", "clips/")
            >>> old = {k: v for k, v in config.hyper_parameters().items() if k != "weight_decay_rule"}
            >>> print(config.refusal("runs/x", old))
            runs/x holds another fine-tuning (weight_decay_rule: 'all' before, 'reference' now); rerun its command to resume it, or use another --out. It was made before --weight-decay-rule existed: add --weight-decay-rule all to resume it
        """
        diff = self.differences(saved)
        message = (f"{out} holds another fine-tuning ({describe_differences(diff)}); rerun its command to resume it, "
                   "or use another --out")
        if "weight_decay_rule" in diff and "weight_decay_rule" not in saved:
            message += ". It was made before --weight-decay-rule existed: add --weight-decay-rule all to resume it"
        return message


#: Hyper-parameters added after runs were written, with the value those runs had (a train state
#: or manifest without the field reads back with it).
ADDED_HYPER_PARAMETERS = {"head_epochs": 0, "cached_features": False, "feature_views": None,
                          "weight_decay_rule": "all"}


class TrainClips(torch.utils.data.Dataset):
    """Item ``(epoch, i)``: ``(clip, label)`` of ``records[i]`` in ``epoch`` (item ``i``: in
    ``self.epoch``), or ``(None, label)`` when the video cannot be read (the batch goes on
    without it). The epoch travels with the index (:class:`RunBatches`), so workers reading
    ahead across epochs make each epoch's clips."""

    def __init__(self, records, spec, seed: int):
        self.records, self.spec, self.seed, self.epoch = records, spec, seed, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key):
        from zoo.input.source import VideoReadError
        from zoo.input.training import clip_seed, read_train_clip

        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        record = self.records[index]
        generator = torch.Generator().manual_seed(clip_seed(self.seed, epoch, index))
        try:
            clip, _, _ = read_train_clip(record.source, self.spec, generator)
        except VideoReadError:
            return None, record.label
        return clip, record.label


def readable_training_set(dataset: VideoDataset, source, out: Path | None, say, *, progress: bool = False) -> VideoDataset:
    """``dataset`` less the videos that cannot be opened (:func:`zoo.input.video.check_readable`:
    a missing, empty or non-video file; a header read each). They are named, the first on
    screen and every one in ``out``/:data:`UNREADABLE_FILE` (when ``out`` is given), and the run
    trains on the rest; a class left with no readable video is refused (``source`` names the
    data in the error), as is a set with none at all.

    Example:
        >>> import tempfile
        >>> from benchmarks.datasets import VideoDataset, VideoRecord
        >>> ds = VideoDataset("folders", [VideoRecord("a", "missing/a.mp4", 0)], ["jump"])
        >>> readable_training_set(ds, "clips/", None, print)
        Traceback (most recent call last):
        ...
        benchmarks.datasets.AnnotationError: clips/: no readable training video of 'jump' (1 unreadable, e.g. missing/a.mp4: missing file)
    """
    from tqdm.auto import tqdm

    from zoo.input.source import VideoReadError
    from zoo.input.video import check_readable

    kept, unreadable = [], []
    # a header read per video: about a millisecond each, seconds for UCF101's 9.5k
    for record in tqdm(dataset.records, desc="checking the training videos", unit="video", disable=not progress,
                       leave=False):
        try:
            check_readable(record.source)
        except VideoReadError as err:
            unreadable.append((record, err))
            continue
        kept.append(record)
    if not unreadable:
        if out is not None:  # a list left by an earlier run of this folder would now be wrong
            (out / UNREADABLE_FILE).unlink(missing_ok=True)
        return dataset
    if out is not None:
        atomic_write(out / UNREADABLE_FILE, "".join(f"{e.path}\t{e.reason}\n" for _, e in unreadable))
    say(f"{len(unreadable)} of {len(dataset.records)} training videos cannot be read and are left out, e.g. "
        f"{unreadable[0][1]}" + (f" (all in {out / UNREADABLE_FILE})" if out is not None else ""))
    kept_labels = {r.label for r in kept}
    for record, err in unreadable:
        if record.label not in kept_labels:  # every video of this class is unreadable
            lost = [e for r, e in unreadable if r.label == record.label]
            name = dataset.classes[record.label] if dataset.classes else record.label
            raise AnnotationError(source, None, f"no readable training video of {name!r} ({len(lost)} unreadable, "
                                  f"e.g. {lost[0]})")
    return dataclasses.replace(dataset, records=kept)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from ``1 / warmup_steps`` to 1, then a cosine from 1 to 0 at ``total_steps``.

    Example:
        >>> [round(lr_factor(s, 2, 6), 3) for s in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def check_resumed_training(state: dict, spec, out, say) -> None:
    """A train state's epochs were trained on ``spec``'s clips with :data:`LOSS`: refuse a resume
    whose training clip differs (this version's catalogue trains the entry at other sizes, or
    ``--crop-size`` changed how it is read) or whose loss does, naming the fields; a state written
    before these were recorded resumes with a warning that says what the rest of the run uses.
    ``spec`` None (a probe on cached embeddings, which reads no clip, and whose loss was always
    on the head's logits): the loss alone is checked.

    Example:
        >>> import zoo
        >>> from zoo.input.training import TrainSpec
        >>> spec = TrainSpec.from_entry(zoo.get_entry("x3d_xs"))
        >>> old = {"train_clip": {**dataclasses.asdict(spec), "crop_size": 182}, "loss": LOSS}
        >>> check_resumed_training(old, spec, "runs/x", print)
        Traceback (most recent call last):
        ...
        ValueError: runs/x holds a fine-tuning trained otherwise (crop_size: 182 before, 160 now); use another --out
    """
    diff = {}
    if state.get("loss") not in (None, LOSS):
        diff["loss"] = (state["loss"], LOSS)
    if spec is not None:
        saved = state.get("train_clip")
        if saved is None or state.get("loss") is None:
            say(f"warning: {out} was started by a version that did not record its training clip and loss; "
                f"its remaining epochs train on {spec.crop_size}-pixel crops of short sides in "
                f"[{spec.min_scale}, {spec.max_scale}] with the {LOSS}, which may differ from its first epochs")
        else:
            diff.update(differences(saved, dataclasses.asdict(spec)))
    if diff:
        raise ValueError(f"{out} holds a fine-tuning trained otherwise ({describe_differences(diff)}); use another --out")


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's order and dropout."""
    return seed * 100_003 + epoch


def build_model(config: FinetuneConfig, num_classes: int) -> nn.Module:
    """The entry's model with a ``num_classes`` head and the configured backbone weights."""
    import zoo
    from zoo.checkpoints import fetch, head_classes, load_backbone, load_state_dict_strict, read_state_dict

    torch.manual_seed(config.seed)  # the new head's (or a scratch model's) initialisation
    if config.weights == "published":
        return zoo.create_model(config.entry, pretrained=True, num_classes=num_classes)
    model = zoo.create_model(config.entry, num_classes=num_classes)
    if config.weights != "none":
        state = read_state_dict(fetch(config.weights))
        if head_classes(model, state) == num_classes:
            load_state_dict_strict(model, state, source=config.weights)
        else:
            load_backbone(model, state, source=config.weights)
    return model


def head_and_backbone(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The head's parameters and the backbone's (every other one)."""
    from zoo.checkpoints import head_layer

    head_name = head_layer(model)[0] + "."
    head, body = [], []
    for name, p in model.named_parameters():
        (head if name.startswith(head_name) else body).append(p)
    return head, body


def head_only(config: FinetuneConfig, epoch: int) -> bool:
    """Whether epoch ``epoch`` (from 0) trains the head alone: every epoch of linear mode, the
    first ``head_epochs`` of full mode.

    Example:
        >>> config = FinetuneConfig("x3d_xs", "folders", "clips/", epochs=4, head_epochs=2)
        >>> [head_only(config, e) for e in range(4)]
        [True, True, False, False]
    """
    return config.mode == "linear" or epoch < config.head_epochs


def decay_groups(model: nn.Module, params: list[nn.Parameter], config: FinetuneConfig) -> list[dict]:
    """``params`` (some of ``model``'s) in groups by weight decay. Under ``config.weight_decay_rule
    == "reference"``, the parameters the entry's own trainer spared (the catalogue's
    ``train_no_decay`` rules and ``train_no_decay_keys``, :func:`spared_from_decay`) at 0 and
    the rest at ``config.weight_decay``; under ``"all"``, one group at ``config.weight_decay``.
    Empty groups are left out.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 1), torch.nn.BatchNorm3d(4))
        >>> config = FinetuneConfig("x3d_xs", "folders", "clips/")
        >>> [(len(g["params"]), g["weight_decay"]) for g in decay_groups(model, list(model.parameters()), config)]
        [(2, 0.0001), (2, 0.0)]
    """
    if config.weight_decay_rule == "all":
        return [{"params": params, "weight_decay": config.weight_decay}]
    import zoo

    extra = zoo.get_entry(config.entry).extra
    spared = spared_from_decay(model, extra.get("train_no_decay", ()), extra.get("train_no_decay_keys", ()))
    groups = [{"params": [p for p in params if id(p) not in spared], "weight_decay": config.weight_decay},
              {"params": [p for p in params if id(p) in spared], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def spared_from_decay(model: nn.Module, rules=(), keys=()) -> set[int]:
    """The ids of ``model``'s parameters a trainer gives no weight decay:

    - rule ``"batchnorm"``: BatchNorm's (and InstanceNorm's) weights and biases, PySlowFast's
      ``BN.WEIGHT_DECAY`` (0 in every config);
    - rule ``"1d"``: every bias and every 1-D parameter of a normalisation layer, PySlowFast's
      ``SOLVER.ZERO_WD_1D_PARAM`` (MViT's configs). On PySlowFast's own MViT this is its test
      ``len(p.shape) == 1 or name.endswith(".bias")``; on torchvision's port, whose class token
      and class position are 1-D where PySlowFast's are ``(1, 1, C)``, those stay decayed, as
      PySlowFast's (``MVIT.ZERO_DECAY_POS_CLS: False``);
    - ``keys``: parameters whose full names hold one of them (mmcv's ``paramwise_cfg``
      ``custom_keys`` with ``decay_mult=0``: Video Swin's ``norm``, ``relative_position_bias_table``).

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
        >>> names = {id(p): n for n, p in model.named_parameters()}
        >>> sorted(names[i] for i in spared_from_decay(model, ["1d"]))
        ['0.bias', '1.bias', '1.weight']
        >>> sorted(names[i] for i in spared_from_decay(model, keys=["1."]))
        ['1.bias', '1.weight']
    """
    unknown = set(rules) - {"batchnorm", "1d"}
    if unknown:
        raise ValueError(f"unknown weight-decay rules {sorted(unknown)} (known: batchnorm, 1d)")
    spared = set()
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if (("batchnorm" in rules and isinstance(module, BATCH_NORMS))
                    or ("1d" in rules and (name == "bias" or (p.ndim == 1 and isinstance(module, NORMS))))
                    or any(key in full for key in keys)):
                spared.add(id(p))
    return spared


def param_groups(model: nn.Module, config: FinetuneConfig) -> list[dict]:
    """The head's parameters at ``lr``; the backbone's at ``lr * backbone_lr_scale`` (full mode)
    or frozen (linear mode: ``requires_grad`` off, not handed to the optimizer); each split by
    weight decay (:func:`decay_groups`). In full mode's head-only epochs the backbone's
    ``requires_grad`` is off (:func:`finetune`), so its gradients stay ``None`` and the
    optimizer leaves it (and its weight decay) alone."""
    head, body = head_and_backbone(model)
    groups = [{**g, "lr": config.lr} for g in decay_groups(model, head, config)]
    if config.mode == "linear":
        for p in body:
            p.requires_grad_(False)
        return groups
    return groups + [{**g, "lr": config.lr * config.backbone_lr_scale} for g in decay_groups(model, body, config)]


def make_optimizer(groups, config: FinetuneConfig):
    """The run's optimizer over ``groups`` (:func:`param_groups`; each group's own weight decay)."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, momentum=0.9, weight_decay=config.weight_decay)


def global_batches(size: int, config: FinetuneConfig, epoch: int) -> list[list[int]]:
    """Epoch ``epoch``'s batches of ``config.batch_size`` video indices, in the order drawn from
    ``(seed, epoch)``: the same whatever the number of processes.

    Example:
        >>> config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", "clips/", batch_size=2)
        >>> sorted(i for batch in global_batches(5, config, 0) for i in batch), len(global_batches(5, config, 0))
        ([0, 1, 2, 3, 4], 3)
    """
    order = torch.randperm(size, generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch))).tolist()
    return [order[i : i + config.batch_size] for i in range(0, size, config.batch_size)]


def rank_share(batch: list[int], rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s part of a global batch (every ``world_size``-th video from ``rank``); a
    rank the batch is too short for takes its first video, so every rank steps.

    Example:
        >>> rank_share([7, 3, 5], 0, 2), rank_share([7, 3, 5], 1, 2), rank_share([7], 1, 2)
        ([7, 5], [3], [7])
    """
    return batch[rank::world_size] or batch[:1]


class RunBatches:
    """The batch sampler of a run: one rank's share (:func:`rank_share`: the DistributedSampler's
    job, keeping one global batch per step) of every :func:`global_batches` of ``epochs``, one
    epoch after the other, as ``(epoch, index)`` items of :class:`TrainClips`.

    One sampler for the whole run, so the loader's workers read ahead across the end of an
    epoch: with a sampler per epoch, every epoch began with the model waiting for its first
    batch while the workers started on it (a few batches per epoch on small sets).

    Example:
        >>> config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", "clips/", batch_size=2)
        >>> batches = RunBatches(3, config, range(1, 3))
        >>> len(batches), batches.steps(1), sorted(item for b in batches for item in b)[:3]
        (4, 2, [(1, 0), (1, 1), (1, 2)])
        >>> [len(b) for b in RunBatches(3, config, range(1), rank=1, world_size=2)]
        [1, 1]
    """

    def __init__(self, size: int, config: FinetuneConfig, epochs: range, rank: int = 0, world_size: int = 1):
        self.size, self.config, self.epochs, self.rank, self.world_size = size, config, epochs, rank, world_size

    def steps(self, epoch: int) -> int:
        """Batches (optimiser steps) in epoch ``epoch``."""
        return math.ceil(self.size / self.config.batch_size)

    def __len__(self) -> int:
        return sum(self.steps(e) for e in self.epochs)

    def __iter__(self):
        for epoch in self.epochs:
            for batch in global_batches(self.size, self.config, epoch):
                yield [(epoch, i) for i in rank_share(batch, self.rank, self.world_size)]


def train_loader(clips: TrainClips, config: FinetuneConfig, epochs: range, rank: int = 0,
                 world_size: int = 1) -> torch.utils.data.DataLoader:
    """A run's loader of the training batches of ``epochs`` (:class:`RunBatches`), decoded in
    ``config.workers`` DataLoader workers that read ahead across epochs and hand each batch over
    through a reused shared slot (:mod:`benchmarks.runtime.batch_slots`; the data path
    :mod:`benchmarks.perf.train_throughput` measures).

    Example:
        >>> config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", "clips/", batch_size=2, workers=0)
        >>> loader = train_loader(TrainClips(["a.mp4", "b.mp4", "c.mp4"], spec=None, seed=0), config, range(1, 2))
        >>> len(loader), sorted(i for b in loader.batch_sampler for _, i in b)
        (2, [0, 1, 2])
    """
    if config.workers:
        # the workers are forked from this process: import the decoders (PyAV: 50 ms) here, once,
        # rather than in each worker before its first clip, while the run waits for its first batches
        for module in ("zoo.input.frames", "zoo.input.video"):
            importlib.import_module(module)
    return SlotLoader(
        clips, batch_sampler=RunBatches(len(clips), config, epochs, rank, world_size), num_workers=config.workers,
        capacity=config.batch_size, worker_init_fn=cpu_share(config, world_size).worker_init() if config.workers else None,
        pin_memory=torch.device(config.device).type == "cuda")


def cpu_share(config: FinetuneConfig, world_size: int = 1) -> CpuShare:
    """How a run of ``config`` shares the CPUs between the model's threads and its decoding
    workers (:class:`benchmarks.runtime.cpus.CpuShare`: on a CPU, ``config.threads`` or the CPUs
    less one per worker, and the workers at the lowest priority, so the model's step goes first).

    Example:
        >>> config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", "clips/", workers=2, threads=1)
        >>> cpu_share(config).model_threads
        1
    """
    return CpuShare.plan(config.workers, config.threads, device=config.device, world_size=world_size)


def train_step(model: nn.Module, optimizer, x, y, *, loss_fn=None) -> float:
    """One optimiser step on a batch (``x`` a tensor, or a list of pathways; ``y`` the class
    indices, a tensor or a sequence of ints) on the model's device, bf16 autocast on a GPU;
    returns the batch's loss.

    Example:
        >>> model = nn.Linear(4, 2)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x, y = torch.ones(3, 4), torch.tensor([0, 1, 1])
        >>> first = train_step(model, optimizer, x, y)
        >>> train_step(model, optimizer, x, y) < first
        True
    """
    device = next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    x = [t.to(device, non_blocking=True) for t in x] if isinstance(x, list) else x.to(device, non_blocking=True)
    y = torch.as_tensor(y, dtype=torch.long).to(device)  # the loader's labels: a tuple of ints
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with autocast:
        loss = loss_fn(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def shared_step(net: nn.Module, optimizer, x, y, global_size: int, ranks) -> tuple[float, int]:
    """One optimiser step of a torchrun job: this rank's part of a global batch of
    ``global_size`` videos through ``net`` (a ``DistributedDataParallel``). Each rank's summed
    loss is scaled by ``world_size / global_size``, so DDP's mean of the gradients is the
    gradient of the global batch's mean loss, as one process computes it. Returns the global
    batch's mean loss and its number of clips (summed over the ranks)."""
    import torch.distributed as dist

    device = next(net.parameters()).device
    x = [t.to(device, non_blocking=True) for t in x] if isinstance(x, list) else x.to(device, non_blocking=True)
    y = torch.as_tensor(y, dtype=torch.long).to(device)  # the loader's labels: a tuple of ints
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with autocast:
        loss_sum = nn.functional.cross_entropy(net(x).float(), y, reduction="sum")
    optimizer.zero_grad(set_to_none=True)
    (loss_sum * (ranks.world_size / global_size)).backward()
    optimizer.step()
    total = torch.tensor([float(loss_sum.detach()), float(len(y))], dtype=torch.float64)
    dist.all_reduce(total, group=ranks.group)
    return float(total[0] / total[1]), int(total[1])


def wrap(model: nn.Module, net, ranks, device) -> nn.Module:
    """What the loop steps: ``model`` itself in one process; under torchrun a new
    ``DistributedDataParallel`` of it (``net``, the previous one, unhooked), which reduces the
    gradients of the parameters that need one now (LP-FT's head-only epochs: the head's)."""
    if not ranks.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if net is not None and hasattr(net, "_remove_autograd_hooks"):  # torch >= 2.1
        net._remove_autograd_hooks()
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def all_ready(x, ranks) -> bool:
    """Whether every rank has a readable clip in its batch (a rank without one cannot step, so
    then none does); always ``x is not None`` in one process.

    Example:
        >>> from benchmarks.runtime.shards import Ranks
        >>> all_ready(None, Ranks()), all_ready(torch.zeros(1), Ranks())
        (False, True)
    """
    if not ranks.distributed:
        return x is not None
    import torch.distributed as dist

    ready = torch.tensor([0 if x is None else 1])
    dist.all_reduce(ready, op=dist.ReduceOp.MIN, group=ranks.group)
    return bool(ready.item())


class ValViews(torch.utils.data.Dataset):
    """Item ``i``: ``(views, label)`` of ``records[i]`` by the harness's input path, or ``None``
    when the video cannot be read."""

    def __init__(self, records, spec):
        self.records, self.spec = records, spec

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        from zoo.input.source import VideoReadError
        from zoo.input.video import read_views

        record = self.records[index]
        try:
            views, _ = read_views(record.source, self.spec)
        except VideoReadError:
            return None
        return views, record.label


@torch.no_grad()
def epoch_top1(model: nn.Module, records, spec, ranks, workers: int = 0, worker_init=None) -> float | None:
    """Validation top-1 (%) of ``model`` on ``records`` with ``spec``'s views (softmax averaged
    over a video's views), each rank scoring every ``world_size``-th video; ``None`` if no video
    could be read. Leaves the model in eval mode. ``worker_init``: the workers' start (default
    :func:`benchmarks.runtime.workers.decoding_worker_init`; a run's :meth:`CpuShare.worker_init`)."""
    from zoo.scoring import output_activation, view_scores

    device = next(model.parameters()).device
    activation = output_activation(model)  # X3D's softmax is not applied twice
    model.eval()
    loader = torch.utils.data.DataLoader(
        ValViews(records[ranks.rank :: ranks.world_size], spec), batch_size=None, num_workers=workers,
        worker_init_fn=(worker_init or decoding_worker_init) if workers else None)
    counts = torch.zeros(2, dtype=torch.float64)
    for item in loader:
        if item is None:
            continue
        views, label = item
        views = [v.to(device) for v in views] if isinstance(views, list) else views.to(device)
        scores = view_scores(model(views).float(), activation, multilabel=False).mean(0)
        counts += torch.tensor([float(int(scores.argmax()) == label), 1.0], dtype=torch.float64)
    if ranks.distributed:
        import torch.distributed as dist

        dist.all_reduce(counts, group=ranks.group)
    return 100.0 * float(counts[0] / counts[1]) if counts[1] else None


def versions() -> dict:
    """Versions of what a run depends on, for its manifest."""
    import av
    import torchvision

    import zoo

    return {"videozoo": zoo.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "av": av.__version__, "python": platform.python_version()}


def hardware(device: torch.device, world_size: int = 1) -> dict:
    """What a run trained on, for its manifest: the device type and model (the GPU's name, else
    the CPU's), the arithmetic (bf16 autocast on a GPU, as :func:`train_step` runs it) and the
    number of processes. Not a hyper-parameter: a run resumed elsewhere records where it ended.

    Example:
        >>> record = hardware(torch.device("cpu"))
        >>> record["device"], record["precision"], record["processes"]
        ('cpu', 'fp32', 1)
    """
    device = torch.device(device)
    gpu = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if gpu else cpu_model() if device.type == "cpu" else device.type
    return {"device": device.type, "name": name, "precision": "bf16 autocast" if gpu else "fp32",
            "processes": world_size}


def finetune(config: FinetuneConfig, *, progress: bool = True, log=print, on_step=None) -> dict:
    """Run (or resume) a fine-tuning; returns the manifest. ``on_step(epoch, step)`` is called
    after every optimiser step (a hook for tests and callers' own bookkeeping).

    Under torchrun (no flag: like ``zoo evaluate``, :func:`benchmarks.runtime.shards.join`;
    gloo on the CPU, NCCL on GPUs) the model is wrapped in ``DistributedDataParallel`` and each
    step's global batch of ``batch_size`` videos is shared out among the ranks
    (:func:`rank_share`), so the run follows the same global batches and the same mean loss as
    one process; rank 0 alone writes the state, the checkpoint and the manifest, and the final
    measurement is sharded as ``zoo evaluate``'s is.

    On a CPU the run's model threads and decoding workers share the CPUs as :func:`cpu_share`
    plans; the caller's torch thread count is restored at the end.
    """
    from benchmarks.runtime.shards import join

    ranks = join(device=config.device)
    share = cpu_share(config, ranks.world_size)
    with share.applied():
        return run_finetune(config, ranks, share, progress=progress, log=log, on_step=on_step)


def run_finetune(config: FinetuneConfig, ranks, share: CpuShare, *, progress: bool, log, on_step) -> dict:
    """:func:`finetune`'s run, in the process group ``ranks`` with the CPUs shared as ``share``."""
    from tqdm.auto import tqdm

    import zoo
    from zoo.input.training import TrainSpec
    from zoo.checkpoints import head_layer
    from zoo.scoring import head_logits
    from zoo.transforms import InputSpec

    say = (log or (lambda _message: None)) if ranks.is_main else (lambda _message: None)
    say(f"CPUs: {share.describe()}")

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    entry = zoo.get_entry(config.entry)
    if entry.dataset == "ava":  # its forward needs person boxes as well as the clip
        raise ValueError(f"{entry.name} is an AVA detector (a clip and person boxes in, actions per box out); "
                         "zoo finetune trains classifiers of whole clips: start from a Kinetics-400 entry, "
                         "e.g. slow_r50_4x16_kinetics400 or slowfast_r50_8x8_kinetics400")
    if config.dataset == "ucf101" and not config.val:
        # a UCF101 split list is one side of the split: without the test list the run would
        # validate, and report its top-1, on its own training videos
        raise ValueError("ucf101: --val testlist0N.txt is required (the split's test list; --train is its "
                         "training list only)")
    train_ds = read_transfer_split(config.dataset, config.train, config.video_root, subset="train",
                                   split=config.split, val_fraction=config.val_fraction, seed=config.seed)
    val_source = config.val or config.train
    val_ds = read_transfer_split(config.dataset, val_source, config.video_root, subset="val", split=config.split,
                                 val_fraction=config.val_fraction, seed=config.seed)
    if config.dataset == "folders" and config.val:
        val_ds = read_transfer_split("folders", config.val, subset="all")
    classes = train_ds.classes
    if val_ds.classes != classes:
        raise AnnotationError(val_source, None, f"the validation classes differ from the training ones ({len(val_ds.classes)} vs {len(classes)})")
    if not train_ds.records:
        raise AnnotationError(config.train, None, "no training videos")
    listed = len(train_ds)
    train_ds = readable_training_set(train_ds, config.train, out if ranks.is_main else None, say,
                                     progress=progress and ranks.is_main)
    if config.batch_size < ranks.world_size:
        raise ValueError(f"batch size {config.batch_size} is smaller than the {ranks.world_size} ranks")
    device = torch.device(ranks.device(config.device))
    model = ranks.in_waves(lambda: build_model(config, len(classes))).to(device)
    groups = param_groups(model, config)
    optimizer = make_optimizer(groups, config)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    spec = TrainSpec.from_entry(entry, crop_size=config.crop_size)

    history: list[dict] = []
    start_epoch = 0
    state_path = out / TRAIN_STATE
    if state_path.exists():  # before any embedding: a folder of another run is refused at once
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if not config.same_run(state["hyper_parameters"]):
            raise ValueError(config.refusal(out, state["hyper_parameters"]))
        # a probe on cached embeddings reads no training clip: only its loss is checked
        check_resumed_training(state, None if config.cached_features else spec, out, say)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
        say(f"resuming {out} after epoch {start_epoch} of {config.epochs}")

    probe, embedding = None, None
    if config.cached_features:
        if ranks.distributed:
            raise ValueError("--cached-features runs in one process: embed the videos under torchrun with "
                             "`zoo features` if you need to, the head then trains in seconds")
        from benchmarks.transfer.linear_probe import CachedProbe

        embedding_started = time.perf_counter()
        # the backbone is frozen, so a resumed model embeds exactly as the starting one did
        probe = CachedProbe.prepare(config, model, train_ds, val_ds, out, device=str(device), progress=progress)
        embedding = {"views": probe.train_views, "train_videos": len(probe.train[1]), "folder": str(out / "features"),
                     "seconds": round(time.perf_counter() - embedding_started, 3)}
    steps_per_epoch = probe.steps_per_epoch if probe else math.ceil(len(train_ds) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = min(total, max(1, round(config.warmup_epochs * steps_per_epoch)))

    clips = TrainClips(train_ds.records, spec, config.seed)
    val_spec = InputSpec.from_entry(entry, config.epoch_val_views) if config.epoch_val_views and val_ds.records else None
    loss_fn = nn.CrossEntropyLoss()
    backbone = head_and_backbone(model)[1]
    net, frozen = None, None
    bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, desc=f"finetune {entry.name} ({config.mode})",
               unit="step", disable=not progress or not ranks.is_main)
    loader = None if probe else train_loader(clips, config, range(start_epoch, config.epochs), ranks.rank, ranks.world_size)
    batches = None
    for epoch in range(start_epoch, config.epochs):
        torch.manual_seed(epoch_seed(config.seed, epoch))
        state = torch.get_rng_state()
        if batches is None and loader is not None:  # one iterator for the whole run: its workers read ahead across epochs
            batches = iter(loader)
        if torch.equal(state, torch.get_rng_state()):
            # making the iterator drew its base seed from the global generator, in the first epoch
            # this process runs; draw once in every other epoch too, so dropout's stream is the
            # same in an epoch whether the run was resumed there or not
            torch.empty((), dtype=torch.int64).random_()
        sizes = [len(b) for b in global_batches(len(clips), config, epoch)]

        def set_lr(step: int, epoch: int = epoch) -> None:
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * lr_factor(epoch * steps_per_epoch + step, warmup, total)

        def stepped(step: int, loss: float, epoch: int = epoch) -> None:
            bar.update()
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", **({"val_top1": history[-1]["val_top1"]}
                            if history and history[-1].get("val_top1") is not None else {}))
            if on_step is not None:
                on_step(epoch, step)
        if head_only(config, epoch) != frozen:  # the first epoch run, and LP-FT's change of phase
            frozen = head_only(config, epoch)
            for p in backbone:
                p.requires_grad_(not frozen)
            net = wrap(model, net, ranks, device)  # DDP reduces the parameters that need a gradient
            if config.head_epochs:
                say(f"epoch {epoch + 1}: " + ("the head alone" if frozen else "everything")
                    + f" from here ({config.head_epochs} head-only epochs)")
        if frozen:
            net.eval()  # frozen backbone: its BatchNorm statistics stay the pretrained ones
        else:
            net.train()
        started, losses, seen = time.perf_counter(), [], 0
        if probe is not None:  # the head on the cached embeddings
            losses, seen = probe.epoch(head_layer(model)[1], optimizer, global_batches(len(probe.train[1]), config, epoch),
                                       set_lr, stepped)
        else:
            # the loss is on the head's logits, as PySlowFast trains (X3D's and R(2+1)D's heads end in softmax)
            with head_logits(model):
                for step, (x, y) in enumerate(itertools.islice(batches, loader.batch_sampler.steps(epoch))):
                    set_lr(step)
                    if not all_ready(x, ranks):  # no readable video in a batch
                        bar.update()
                        continue
                    if ranks.distributed:
                        loss, count = shared_step(net, optimizer, x, y, sizes[step], ranks)
                    else:
                        loss, count = train_step(model, optimizer, x, y, loss_fn=loss_fn), len(y)
                    losses.append(loss)
                    seen += count
                    stepped(step, loss)
        record = {"epoch": epoch + 1, "loss": sum(losses) / max(1, len(losses)), "clips": seen,
                  "unreadable": len(clips) - seen,
                  "seconds": round(time.perf_counter() - started, 3),
                  "lr": [round(g["lr"], 8) for g in optimizer.param_groups]}
        if config.head_epochs:
            record["trained"] = "head" if frozen else "all"
        if val_spec is not None:
            if probe is not None:
                top1 = probe.val_top1(head_layer(model)[1])
            else:
                top1 = epoch_top1(model, val_ds.records, val_spec, ranks, config.workers, share.worker_init())
            record["val_top1"] = None if top1 is None else round(top1, 2)
            record["val_views"] = val_spec.views_label
            bar.set_postfix(epoch=epoch + 1, loss=f"{record['loss']:.3f}", val_top1=record["val_top1"])
        history.append(record)
        if ranks.is_main:
            with atomic_path(state_path) as tmp:
                torch.save({"model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                            "epoch": epoch + 1, "history": history,
                            "hyper_parameters": config.hyper_parameters(),
                            "train_clip": dataclasses.asdict(spec), "loss": LOSS}, tmp)
        say(f"epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f} ({seen} clips, {record['seconds']:.1f} s)"
            + (f", val top-1 {record['val_top1']} ({record['val_views']} views)" if "val_top1" in record else ""))
    bar.close()

    model_path = out / MODEL_FILE
    if ranks.is_main:
        with atomic_path(model_path) as tmp:
            torch.save({"model_state": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}, tmp)
        atomic_write(out / CLASSES_FILE, "".join(f"{c}\n" for c in classes))
        atomic_write(out / VAL_LIST, "".join(f"{os.path.abspath(r.path)} {r.label}\n" for r in val_ds.records))
    manifest = {
        "entry": entry.name,
        "mode": config.mode,
        "weights": config.weights,
        "classes": list(classes),
        "data": {"dataset": config.dataset, "train": os.path.abspath(config.train),
                 "val": os.path.abspath(val_source), "video_root": config.video_root and os.path.abspath(config.video_root),
                 "split": config.split, "train_videos": len(train_ds), "val_videos": len(val_ds),
                 "unreadable_train_videos": listed - len(train_ds)},
        "hyper_parameters": config.hyper_parameters(),
        "train_clip": dataclasses.asdict(spec),
        "versions": versions(),
        "hardware": hardware(device, ranks.world_size),
        "history": history,
        "checkpoint": MODEL_FILE,
        "load": f"zoo.create_model({entry.name!r}, checkpoint={str(model_path)!r})",
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if embedding is not None:  # the embeddings the head trained on (made, or read back on a resume, in "seconds")
        manifest["embedding"] = embedding
    if config.evaluate and val_ds.records:
        from benchmarks.evaluate import evaluate

        metrics = evaluate(entry.name, val_ds, out / "eval", model=model.eval(), views=config.val_views,
                           workers=config.workers, device=config.device, progress=progress, log=log)
        manifest["val"] = {**metrics["metrics"], "videos": metrics["videos"], "failed": metrics["failed"],
                           "views": metrics["views"], "folder": str(out / "eval")}
    if ranks.is_main:
        write_json_atomic(out / MANIFEST, manifest)
    return manifest


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    names = {f.name for f in dataclasses.fields(FinetuneConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    values.setdefault("device", default_device())
    values["entry"] = args.name
    if str(values.get("epoch_val_views", "")).lower() == "none":
        values["epoch_val_views"] = None
    return FinetuneConfig(**values)


def command_line(args: argparse.Namespace, environ=None) -> str:
    """The command that ran, as a results row records it: ``zoo`` and its arguments (the ones
    :func:`benchmarks.cli.main` parsed), or under torchrun the launcher's equivalent.

    Example:
        >>> args = argparse.Namespace(argv=["finetune", "x3d_xs", "--train", "my clips"])
        >>> command_line(args, environ={})
        "zoo finetune x3d_xs --train 'my clips'"
        >>> command_line(args, environ={"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"})
        "torchrun --nnodes 2 --nproc-per-node 2 -m benchmarks.cli finetune x3d_xs --train 'my clips'"
    """
    environ = os.environ if environ is None else environ
    argv = getattr(args, "argv", None)
    words = shlex.join(sys.argv[1:] if argv is None else argv)
    world = int(environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(environ.get("LOCAL_WORLD_SIZE", world))
        return f"torchrun --nnodes {max(1, world // local)} --nproc-per-node {local} -m benchmarks.cli {words}"
    return f"zoo {words}"


def record_in_results(manifest: dict, args: argparse.Namespace) -> Path | None:
    """Add the finished run's row to ``args.results``'s ``finetune.csv`` and remake its
    ``finetune.md`` (:func:`benchmarks.transfer.table.record_run`); ``--results none``: nothing."""
    if str(args.results).lower() == "none":
        return None
    from benchmarks.transfer.table import manifest_row, record_run

    return record_run(args.results, manifest_row(manifest, os.path.abspath(args.out), command_line(args)))


def _cmd_finetune(args: argparse.Namespace) -> int:
    try:
        manifest = finetune(config_from_args(args), progress=not args.quiet)
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"zoo finetune: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nzoo finetune: interrupted; {args.out} keeps every finished epoch: run the same command "
              "again to resume", file=sys.stderr)
        return 130
    val = manifest.get("val", {})
    from benchmarks.runtime.shards import is_main_process

    if not is_main_process():
        return 0
    print(f"{manifest['entry']} ({manifest['mode']}): {len(manifest['classes'])} classes, "
          f"final loss {manifest['history'][-1]['loss']:.4f}"
          + (f", val top-1 {val['top1']:.2f} ({val.get('views')} views)" if "top1" in val else "")
          + f"; {Path(args.out) / MODEL_FILE}")
    try:
        page = record_in_results(manifest, args)
    except (OSError, ValueError) as err:
        print(f"zoo finetune: the run is done ({args.out}), but its row could not be added to "
              f"{args.results}: {err}", file=sys.stderr)
        return 2
    if page is not None:
        print(f"the run's row is in {page.with_suffix('.csv')} and {page}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo finetune`` to the ``zoo`` command line."""
    defaults = FinetuneConfig("-", "folders", "-")
    p = subparsers.add_parser(
        "finetune", help="train an entry with a new head on UCF101, HMDB51 or a folder per class (resumable)",
        description="Fine-tune (or linear-probe) an entry's published weights with a head for the dataset's "
        "classes; rerun the same command after a kill to resume from the last finished epoch.")
    p.add_argument("name", help="canonical name or alias")
    p.add_argument("--dataset", required=True, choices=TRANSFER_DATASETS)
    p.add_argument("--train", required=True, help="ucf101: trainlist0N.txt (classInd.txt beside it); hmdb51: the "
                   "testTrainMulti_7030_splits folder; folders: root/<class>/<video>")
    p.add_argument("--val", help="ucf101: testlist0N.txt (required); hmdb51: the splits folder (default --train); folders: "
                   "another root (default: the held-out --val-fraction of --train)")
    p.add_argument("--video-root", help="ucf101/hmdb51: the folder of class folders of videos")
    p.add_argument("--split", type=int, help="hmdb51 split (1-3)")
    p.add_argument("--val-fraction", type=float, help=f"folders: held-out share per class (default {defaults.val_fraction})")
    p.add_argument("--out", required=True, help="run folder (checkpoint, classes, manifest; resumes)")
    p.add_argument("--mode", choices=["linear", "full"], help="linear: frozen backbone, head only; full (default): everything")
    p.add_argument("--weights", help="published (default), none (from scratch), or a checkpoint source")
    p.add_argument("--epochs", type=int, help=f"default {defaults.epochs}")
    p.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    p.add_argument("--optimizer", choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, help=f"head's peak learning rate (default {defaults.lr})")
    p.add_argument("--backbone-lr-scale", type=float, help=f"full mode: backbone lr / head lr (default {defaults.backbone_lr_scale})")
    p.add_argument("--head-epochs", type=int, help="full mode: the first N epochs train the head alone (backbone "
                   "frozen, BatchNorm statistics kept), the rest everything (LP-FT; one schedule over all the "
                   f"epochs; default {defaults.head_epochs})")
    p.add_argument("--cached-features", action="store_true", default=None,
                   help="linear mode: embed each training video once (the head's input averaged over --feature-views, "
                   "as zoo features writes it, kept in OUT/features) and train the head on the embeddings, instead of "
                   "running the frozen backbone on every clip of every epoch (no training augmentation)")
    p.add_argument("--feature-views", help="--cached-features: CLIPSxCROPS each training video is embedded with "
                   "(default the entry's test views)")
    p.add_argument("--weight-decay", type=float, help=f"default {defaults.weight_decay}")
    p.add_argument("--weight-decay-rule", choices=WEIGHT_DECAY_RULES,
                   help="reference (default): no weight decay where the entry's own trainer gave none (PySlowFast: "
                   "BatchNorm, and for MViT every bias and 1-D parameter; Video Swin: norms and relative position "
                   "tables; torchvision's recipe: decay everywhere); all: every parameter alike")
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--crop-size", type=int, help="training crop (default the entry's config's: 224 for the R50 family, 160 for X3D-XS; the jitter scales with it)")
    p.add_argument("--workers", type=int, help=f"decoding processes (default {defaults.workers})")
    p.add_argument("--threads", type=int, help="CPU: the model's torch threads (default: the CPUs less one per "
                   "worker, at least 1); the workers decode at the lowest priority, in the CPU time the model leaves")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda where torch sees a GPU, else cpu)")  # resolved when run: the reference pages show no build machine's
    p.add_argument("--val-views", help="CLIPSxCROPS of the final multi-view measurement (default the entry's)")
    p.add_argument("--epoch-val-views", help="CLIPSxCROPS of the validation top-1 after each epoch (default "
                   f"{defaults.epoch_val_views}; 'none': no per-epoch validation)")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false", default=None,
                   help="skip the final measurement on the validation videos")
    p.add_argument("--results", default="results", help="add the finished run's row to DIR/finetune.csv and remake "
                   "DIR/finetune.md (default: results; the same run folder again replaces its row; 'none': skip)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_finetune)
    return p
