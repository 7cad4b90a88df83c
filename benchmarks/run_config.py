"""One evaluation, described once: :class:`RunConfig`, and the run folder it writes.

The command line builds a :class:`RunConfig` (:meth:`RunConfig.from_args`), and every way an
evaluation runs takes it: :func:`benchmarks.evaluate.run_evaluation` (videos),
:func:`benchmarks.ava.evaluate.run_ava_evaluation` (AVA keyframes), ``zoo reproduce`` (one per
entry, :func:`dataclasses.replace`), and the torchrun ranks, which each build the same one
from the same command. What identifies the job (entry, weights, views, data, protocol,
precision, batch size) goes to ``config.json`` (:func:`check_config`): a rerun into the same
folder resumes only when it is the same job; workers, device, progress and the folder
itself may change between runs.

A run folder holds ``config.json``, ``records.json`` (the items in order, what an offline
merge needs), the result files of the evaluation, ``failures.jsonl`` and ``metrics.json``.

Example:
    >>> config = RunConfig("x3d_xs", data=DataFiles("val.csv", "videos/"), weights=Weights(pretrained=True),
    ...                    views="10x3", workers=2)
    >>> config.weights.record(), config.out_dir("x3d_xs_4x12_kinetics400").as_posix()
    ('published', 'runs/evaluate/x3d_xs_4x12_kinetics400_10x3')
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from benchmarks.runtime import shards
from benchmarks.runtime.files import write_json_atomic
from zoo.factory import RANDOM_WEIGHTS

#: The files of a run folder that every evaluation writes (its results have their own names).
CONFIG_FILE = "config.json"
RECORDS_FILE = "records.json"
METRICS_FILE = "metrics.json"
FAILURES_FILE = "failures.jsonl"

#: The transfer-learning sets (:data:`benchmarks.datasets.TRANSFER_DATASETS`): data other than an
#: entry's own, so the default run folder names them (a fine-tuned checkpoint measured on UCF101
#: does not land in the folder of the entry's own evaluation).
TRANSFER_SETS = ("ucf101", "hmdb51", "folders")


@dataclass(frozen=True)
class Weights:
    """Where the model's weights come from: the published checkpoint, a checkpoint source
    (path, ``file://``, ``https://``, ``hf://``), a builder ``module:function(entry) -> model``
    (custom and test models), an exported file run by its runtime (``zoo export``), or none
    of them (random weights from a fixed seed)."""

    pretrained: bool = False
    checkpoint: str | None = None
    builder: str | None = None
    artifact: str | None = None

    def model_factory(self) -> Callable[[object], nn.Module]:
        """``entry -> model``: the artifact's runtime, the builder's function, else :func:`default_model_factory`."""
        if self.artifact:
            return artifact_factory(self.artifact)
        if self.builder:
            return load_builder(self.builder)
        return default_model_factory(self.pretrained, self.checkpoint)

    def folder_label(self) -> str | None:
        """What the default run folder adds to name these weights (:meth:`RunConfig.out_dir`): the
        artifact's file name, or the checkpoint's file stem after its folder's name (a fine-tuned
        run's checkpoint is ``<run>/model.pyth``, so the stem alone would name every run alike);
        none for the published weights, a builder or random ones.

        Example:
            >>> Weights(checkpoint="runs/x3d_xs_ucf101/model.pyth").folder_label(), Weights(artifact="art/m.onnx").folder_label()
            ('x3d_xs_ucf101_model', 'art_m.onnx')
        """
        if self.artifact:
            # after its folder's name too: art/full.pte and base/full.pte are two files
            path = Path(self.artifact)
            label = "_".join(part for part in (path.parent.name, path.name) if part)
        elif self.checkpoint:
            # a source may be a URL (https://, hf://): only its last two path parts, as a path's
            path = Path(str(self.checkpoint).split("://", 1)[-1].rstrip("/"))
            label = "_".join(part for part in (path.parent.name, path.stem) if part)
        else:
            return None
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in label) or None

    def check(self, entry) -> None:
        """Refuse, before a run writes anything to its folder, weights that cannot load: a bad
        artifact (:func:`check_artifact`) or a checkpoint path that is no file. A failed run
        must not leave a ``config.json`` behind, which would refuse the corrected rerun."""
        if self.artifact:
            check_artifact(self.artifact, entry)
        elif self.checkpoint and "://" not in str(self.checkpoint):
            path = Path(self.checkpoint)
            if path.is_dir():  # a run folder: its checkpoint file, or zoo.checkpoints' reason why not
                from zoo.checkpoints import checkpoint_in_folder

                path = checkpoint_in_folder(path)
            if not path.is_file():
                # the message zoo.checkpoints gives when loading it; URLs are fetched (and checked) then
                raise FileNotFoundError(f"checkpoint not found: {self.checkpoint}")

    @property
    def random(self) -> bool:
        """No weights given: the network is random (``zoo.create_model``'s default)."""
        return not (self.pretrained or self.checkpoint or self.builder or self.artifact)

    def record(self, *, model: nn.Module | None = None, model_factory: Callable | None = None) -> str:
        """What ``config.json`` says of the weights (a given model or factory overrides these)."""
        if self.artifact:
            from zoo.checkpoints import sha256_of

            return f"artifact {Path(self.artifact).name} sha256 {sha256_of(self.artifact)}"
        if self.checkpoint:
            return str(self.checkpoint)
        if self.pretrained:
            return "published"
        if model is not None:
            return "given model"
        return "custom factory" if model_factory is not None or self.builder else RANDOM_WEIGHTS


@dataclass(frozen=True)
class DataFiles:
    """The dataset: annotation file, where the videos (or frame folders) are, and the files
    some datasets need beside them (class list, SSv2 labels and frame list; AVA's person
    boxes, label map and excluded timestamps). ``dataset`` is the annotation format
    (default: the entry's dataset); ``split``: HMDB51's split (default 1)."""

    annotations: str | None = None
    video_root: str | None = None
    dataset: str | None = None
    classes: str | None = None
    labels: str | None = None
    frame_list: str | None = None
    boxes: str | None = None
    label_map: str | None = None
    excluded: str | None = None
    split: int | None = None


@dataclass(frozen=True)
class RunConfig:
    """An evaluation: which entry, with which weights, on which data, how.

    ``entry``: a name or alias (or a :class:`zoo.ZooEntry`); ``views``: ``"CLIPSxCROPS"``
    instead of the catalogue's; ``batch_size``: views (AVA: keyframes) per forward pass;
    ``workers``: decoding processes; ``dtype``: autocast ``bf16``/``fp16``; ``fast``:
    :func:`zoo.optimize`; ``protocol_of``: run under another entry's test protocol;
    ``limit``: the first N videos (AVA: keyframes); ``out``: the run folder (default
    :meth:`out_dir`); ``box_threshold`` (AVA): keep person boxes scoring at least this;
    ``tables`` (AVA): regenerate the tables in this folder afterwards.
    """

    entry: object
    data: DataFiles = field(default_factory=DataFiles)
    weights: Weights = field(default_factory=Weights)
    views: str | tuple[int, int] | None = None
    batch_size: int | None = None
    workers: int = 0
    device: str = "cpu"
    dtype: str = "fp32"
    fast: bool = False
    protocol_of: str | None = None
    limit: int | None = None
    out: str | None = None
    box_threshold: float | None = None
    tables: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunConfig:
        """The configuration a ``zoo evaluate`` command line describes."""
        data = DataFiles(**{f.name: getattr(args, f.name, None) for f in fields(DataFiles)})
        weights = Weights(bool(getattr(args, "pretrained", False)), getattr(args, "checkpoint", None),
                          getattr(args, "builder", None), getattr(args, "artifact", None))
        return cls(
            entry=args.name, data=data, weights=weights, views=args.views, batch_size=args.batch_size,
            workers=args.workers, device=args.device or default_device(weights), dtype=getattr(args, "dtype", "fp32"),
            fast=getattr(args, "fast", False), protocol_of=getattr(args, "protocol_of", None), limit=args.limit,
            out=args.out, box_threshold=getattr(args, "box_threshold", None), tables=getattr(args, "tables", None),
        )

    def out_dir(self, name: str, *, ava: bool = False) -> Path:
        """``out``, else ``runs/evaluate/<entry>_<views>[_protocol_of_<other>][_<transfer set>][_<weights>]``
        (AVA: ``<entry>_ava[_<weights>]``) for the entry named ``name`` (with the catalogue's views
        when none are given; the transfer set, :data:`TRANSFER_SETS`, when the data is one; the
        weights' :meth:`Weights.folder_label` for an artifact or a checkpoint, so that measuring
        one does not land in the folder of the published weights' run, which would refuse it).

        Example:
            >>> RunConfig("x3d_xs", data=DataFiles("testlist01.txt", dataset="ucf101")).out_dir("x3d_xs").as_posix()
            'runs/evaluate/x3d_xs_10x3_ucf101'
        """
        if self.out:
            return Path(self.out)
        label = self.weights.folder_label()
        if ava:
            return self._own_folder(Path("runs", "evaluate", f"{name}_ava"), label)
        from zoo.registry import get_entry

        rules = get_entry(self.protocol_of) if self.protocol_of else None
        views = self.views
        if views is None:
            own = rules or get_entry(name)
            views = f"{own.temporal_clips}x{own.spatial_crops}"
        elif not isinstance(views, str):
            views = f"{views[0]}x{views[1]}"
        other_data = f"_{self.data.dataset}" if self.data.dataset in TRANSFER_SETS else ""
        base = Path("runs", "evaluate", f"{name}_{views}" + (f"_protocol_of_{rules.name}" if rules else "") + other_data)
        return self._own_folder(base, label)

    def _own_folder(self, base: Path, label: str | None) -> Path:
        """``base`` with the weights' label, unless ``base`` itself holds a run of these weights:
        the default folder before it named them, which a rerun of the same command resumes."""
        if label is None:
            return base
        # the folders earlier versions named these weights by: an artifact by its file name alone
        earlier = [base]
        if self.weights.artifact and Path(self.weights.artifact).name != label:
            earlier.append(base.with_name(f"{base.name}_{Path(self.weights.artifact).name}"))
        for folder in earlier:
            try:
                before = json.loads((folder / CONFIG_FILE).read_text()).get("weights")
            except (OSError, ValueError, AttributeError):
                continue
            try:  # an artifact's record is its sha256: a missing file is refused later, with its own message
                if before == self.weights.record():
                    return folder
            except OSError:
                break
        return base.with_name(f"{base.name}_{label}")


def views_argument(text: str) -> str:
    """The argparse type of every ``--views``: the text as given, checked by
    :func:`zoo.transforms.parse_views`, so that a bad value is a usage error, not a traceback.

    Example:
        >>> views_argument("10x3")
        '10x3'
        >>> views_argument("2")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: views must look like CLIPSxCROPS, e.g. 10x3; got '2'
    """
    from zoo.transforms import parse_views

    try:
        parse_views(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def positive_int(text: str) -> int:
    """The argparse type of counts that must be 1 or more (``--reps``, ``--top``).

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """The argparse type of rates that must be above 0 (``--fps``).

    Example:
        >>> positive_float("29.97")
        29.97
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def load_builder(spec: str) -> Callable:
    """``module:function`` -> the function (``--builder``: ``entry -> model``)."""
    module_name, _, fn_name = spec.partition(":")
    if not fn_name:
        raise ValueError(f"--builder must be module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), fn_name)


def artifact_factory(artifact) -> Callable:
    """``entry -> the exported file run by its runtime`` (:func:`zoo.deploy.artifact.load_artifact`);
    a file exported from another entry is refused."""

    def build(entry) -> nn.Module:
        from zoo.deploy.artifact import ArtifactModel

        return ArtifactModel(artifact, check_artifact(artifact, entry))

    return build


def check_artifact(artifact, entry) -> dict:
    """The manifest of ``artifact`` for a run of ``entry``, checked (:meth:`Weights.check`):
    the file and its manifest exist, the manifest reads, the sha256 matches
    (:func:`zoo.deploy.artifact.read_manifest`, whose :class:`~zoo.deploy.artifact.ArtifactError`
    it raises) and the file was exported from ``entry``."""
    from zoo.deploy.artifact import ArtifactError, read_manifest

    manifest = read_manifest(artifact)
    if manifest["entry"] != entry.name:
        raise ArtifactError(f"{artifact} was exported from {manifest['entry']}, not {entry.name}")
    return manifest


def default_device(weights: Weights | None = None) -> str:
    """The device a command runs on when ``--device`` is not given: ``cuda`` where torch sees a
    GPU, else ``cpu``; always ``cpu`` for an artifact, which its runtime runs on the CPU."""
    if weights is not None and weights.artifact:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_problem(device, *, artifact: bool = False) -> str | None:
    """Why ``--device`` cannot be used here, in one line, or ``None``: not a torch device, a
    CUDA device where torch finds none (or not that many), or any device but the CPU for an
    ``artifact`` (its runtime, ONNX Runtime or ExecuTorch, runs the file on the CPU).

    Example:
        >>> device_problem("cpu"), device_problem("gpu")
        (None, '--device gpu: not a torch device (e.g. cpu, cuda, cuda:1)')
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        return f"--device {device}: not a torch device (e.g. cpu, cuda, cuda:1)"
    if artifact and parsed.type != "cpu":
        return (f"--device {device}: an exported file runs on its runtime's CPU (ONNX Runtime, ExecuTorch), "
                "so --device does not apply with --artifact")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            return f"--device {device}: torch finds no CUDA device here (torch.cuda.is_available() is False)"
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            return f"--device {device}: torch finds {torch.cuda.device_count()} CUDA device(s) here"
    return None


def default_model_factory(pretrained: bool = False, checkpoint=None) -> Callable:
    """``zoo.create_model`` for an entry, with the published or a given checkpoint.

    Without weights the model is drawn from a fixed seed, so every torchrun rank (and every
    rerun that resumes) scores with the same random network.
    """

    def build(entry) -> nn.Module:
        import zoo

        if not pretrained and checkpoint is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                return zoo.create_model(entry.name)
        try:
            return zoo.create_model(entry.name, pretrained=pretrained, checkpoint=checkpoint)
        except RuntimeError as err:
            if refused_by_checkpoints(err):
                raise WeightsError(str(err)) from err
            raise

    return build


class WeightsError(ValueError):
    """Weights that do not load into the entry's model: another architecture's checkpoint, a
    whole-model pickle, a file that holds no state dict. The message (zoo.checkpoints') names
    the file and what is wrong; the command line prints it as its one line."""


def refused_by_checkpoints(err: BaseException) -> bool:
    """Is ``err`` zoo.checkpoints refusing a file (:class:`~zoo.checkpoints.CheckpointMismatchError`,
    or the RuntimeError :func:`~zoo.checkpoints.read_state_dict` raises itself)? Not a
    RuntimeError from deeper down (torch, a model's code): those are bugs, kept as tracebacks."""
    from zoo.checkpoints import CheckpointMismatchError

    if isinstance(err, CheckpointMismatchError):
        return True
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") == "zoo.checkpoints"


def differences(before: dict, now: dict) -> dict[str, tuple]:
    """The fields in which a recorded job ``before`` differs from ``now``: name -> (before, now),
    compared as JSON reads them back (tuples as lists), in ``now``'s order, then ``before``'s own.

    Example:
        >>> differences({"lr": 0.01, "crop": [160, 160]}, {"lr": 0.5, "crop": (160, 160)})
        {'lr': (0.01, 0.5)}
    """
    before, now = json.loads(json.dumps(before)), json.loads(json.dumps(now))
    return {k: (before.get(k), now.get(k)) for k in [*now, *(k for k in before if k not in now)]
            if before.get(k) != now.get(k)}


def describe_differences(diff: dict[str, tuple]) -> str:
    """:func:`differences` in words, for a refusal: ``"lr: 0.01 before, 0.5 now; ..."``."""
    return "; ".join(f"{k}: {a!r} before, {b!r} now" for k, (a, b) in diff.items())


#: The dataset name of a list of other classes than the entry's (``benchmarks.evaluate.config_dataset``).
OWN_CLASSES = "own classes"

#: Fields ``config.json`` gained after run folders had been written without them (what changes
#: the labels or the inputs: the resolved class list, the annotation file's content, the video
#: root, the checkpoint file's content). Each is compared only where both the folder's
#: ``config.json`` and the run record it: a folder written before it existed still resumes (and
#: gains it), and so does a run that cannot know it (the Python API, given a loaded dataset, has
#: no video root) in a folder the command line wrote, or the other way round.
ADDED_FIELDS = ("classes", "annotations_sha256", "video_root", "weights_sha256", "boxes_sha256", "frame_list_sha256")


def check_config(out_dir: Path, job: dict) -> bool:
    """``out_dir/config.json`` records ``job``; a folder holding another job is refused (naming
    every field that differs), so a resume never mixes two evaluations' results. Fields of
    :data:`ADDED_FIELDS` that only one side records are not compared, and the folder gains
    those the run adds. True when this call wrote a new ``config.json`` (a fresh folder).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> _ = (out / CONFIG_FILE).write_text('{"model": "x3d_xs"}')  # written before "classes" existed
        >>> check_config(out, {"model": "x3d_xs", "classes": "400 classes, sha256 ab"})
        False
        >>> check_config(out, {"model": "x3d_xs", "classes": "5 classes, sha256 cd"})
        Traceback (most recent call last):
        ...
        ValueError: ... (classes: '400 classes, sha256 ab' before, '5 classes, sha256 cd' now); use another --out

    A list of one's own classes recorded under the entry's dataset name (by a run before
    :data:`OWN_CLASSES`) is the same job: the folder takes the new name.
    """
    path = Path(out_dir) / CONFIG_FILE
    if not path.exists():
        write_json_atomic(path, job)
        return True
    before = json.loads(path.read_text())
    # what one side lacks of the added fields, taken as the other side's (so not compared)
    now = {**{k: before[k] for k in ADDED_FIELDS if k in before and k not in job}, **job}
    diff = differences({**{k: now[k] for k in ADDED_FIELDS if k in now and k not in before}, **before}, now)
    renamed = diff.get("dataset", (None, None))[1] == OWN_CLASSES  # a folder from before the name: the same data
    if renamed:
        diff.pop("dataset")
    if diff:
        raise ValueError(f"{out_dir} holds results of a different evaluation ({describe_differences(diff)}); "
                         "use another --out")
    if renamed or any(k not in before for k in now):
        write_json_atomic(path, {**before, **now})
    return False


def check_same_job(ranks, out_dir: Path, job: dict, keys: list, items: str, causes: str) -> None:
    """On a rank other than 0: are rank 0's config and records files visible here (is ``--out``
    shared?), and do they name this rank's job (did every machine get the same command)?
    ``items`` names the records (videos, keyframes), ``causes`` what makes them differ."""
    if not ranks.distributed or ranks.is_main:
        return
    shards.wait_visible(out_dir, {CONFIG_FILE: 1, RECORDS_FILE: 1})
    check_config(out_dir, job)
    if not shards.wait_until(lambda: json.loads((Path(out_dir) / RECORDS_FILE).read_text())["keys"] == keys):
        raise ValueError(f"rank {ranks.rank} reads other {items} than rank 0 ({causes}); "
                         "every machine must run the same command on the same files")


def absolute(path) -> str:
    """A file's absolute path as ``config.json`` records it (empty when there is none)."""
    return os.path.abspath(path) if path else ""


def local_checkpoint(source) -> Path | None:
    """The local file a checkpoint source names (a path, a run folder's model, ``file://``), or
    None (a URL, hf://): :func:`zoo.checkpoints.local_file`, the file the library loads.

    Example:
        >>> local_checkpoint("hf://owner/repo/model.pt") is None, local_checkpoint("file:///w/m.pt").as_posix()
        (True, '/w/m.pt')
    """
    from zoo.checkpoints import local_file

    return local_file(source)
