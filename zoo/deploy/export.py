"""``zoo.export``: an entry as a file for ONNX Runtime or ExecuTorch (XNNPACK), fp32 or int8.

The model (published weights, a checkpoint, or one given) has its BatchNorm folded into the
convolutions, is exported with ``torch.export`` at the entry's test clip (batch ``batch``),
and for ExecuTorch (or on request for ONNX) goes through the 2D rewrite: a one-video clip is
kept as frames from its first operator to its last, one batch of frames or one tensor per
frame (:mod:`zoo.deploy.layout`, so XNNPACK transposes nothing between convolutions), and what that leaves in 3D is rewritten
with 2D operators (:mod:`zoo.deploy.rewrite`). int8 is calibrated on views of real videos built by the entry's
own test protocol (:func:`zoo.input.video.read_views`): PT2E with the XNNPACK quantizer for
ExecuTorch, ONNX Runtime's static quantization (QDQ, per channel) for ONNX. The artifact is
then run by its runtime on a real clip (``check_video``; random input when none is given,
which the manifest says) and the max ``|exported - eager|`` goes in the manifest.

Example:
    >>> import os, tempfile, zoo
    >>> path = zoo.export("i3d_tiny_8x4_demo", os.path.join(tempfile.mkdtemp(), "demo.onnx"), pretrained=True)
    >>> manifest = zoo.deploy.artifact.read_manifest(path)
    >>> manifest["entry"], manifest["weights"], manifest["inputs"], manifest["max_abs_diff"] < 1e-4
    ('i3d_tiny_8x4_demo', 'published', [[1, 3, 8, 32, 32]], True)
"""

from __future__ import annotations

import copy
import os
import platform
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from zoo.checkpoints import fetch, sha256_of
from zoo.classes import ClassListUnavailable, class_names, read_class_names
from zoo.deploy.artifact import FORMATS, runner, write_manifest
from zoo.deploy.layout import LAYOUTS, default_layout, frames_layout
from zoo.deploy.native_log import NativeLog
from zoo.deploy.rewrite import rewrite_3d
from zoo.factory import create_model
from zoo.fast import FastModel, example_input, fold_batch_norms
from zoo.provenance import current_weights, untrained
from zoo.registry import get_entry
from zoo.scoring import output_activation
from zoo.transforms import InputSpec, protocol_of


class ExportError(ValueError):
    """A model that cannot be exported as asked; the message names the operator or option and why."""


class RuntimeFailure(ExportError):
    """The file was written but its runtime cannot load or run it; the message says why."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _as_args(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _flat(x) -> list[torch.Tensor]:
    """The runtime's inputs: every tensor of the model's input, in order (SlowFast: slow, fast)."""
    out = []
    for item in _as_args(x):
        out += list(item) if isinstance(item, (list, tuple)) else [item]
    return out


class _FlatInputs(nn.Module):
    """The model with one tensor per input (runtimes take flat tensor lists, not SlowFast's list):
    ``slow, fast`` for SlowFast, then ``boxes`` for an AVA detector."""

    def __init__(self, model: nn.Module, pathways: bool):
        super().__init__()
        self.model, self.pathways = model, pathways

    def forward(self, *tensors):
        if not self.pathways:
            return self.model(*tensors)
        return self.model(list(tensors[:2]), *tensors[2:])


def check_views(entry, video, batch: int):
    """The first ``batch`` views of ``video`` under the entry's test protocol (a real clip)."""
    from zoo.input.video import read_views  # PyAV: only when a video is read

    views, _ = read_views(video, InputSpec.from_entry(entry))
    if isinstance(views, (list, tuple)):
        return [v[:batch] for v in views]
    return views[:batch]


def calibration_inputs(entry, videos, batch: int, views_per_video: int | None = None) -> list:
    """Model inputs from ``videos`` (files or frame folders) through the entry's test protocol,
    ``batch`` views each; at most ``views_per_video`` views of a video (default: all)."""
    from zoo.input.video import read_views

    spec = InputSpec.from_entry(entry)
    inputs = []
    for video in videos:
        views, _ = read_views(video, spec)
        tensors = list(views) if isinstance(views, (list, tuple)) else [views]
        count = tensors[0].shape[0] if views_per_video is None else min(views_per_video, tensors[0].shape[0])
        for start in range(0, count - batch + 1, batch):
            chunk = [t[start: start + batch] for t in tensors]
            inputs.append(chunk if isinstance(views, (list, tuple)) else chunk[0])
    return inputs


def export(
    model_or_name,
    path,
    *,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    int8: bool = False,
    pretrained: bool = False,
    checkpoint=None,
    calibration=(),
    check_video=None,
    batch: int = 1,
    rewrite_2d: bool | None = None,
    classes=None,
    layout: str | None = None,
) -> Path:
    """Export an entry (name, with ``pretrained``/``checkpoint`` weights) or a zoo model to ``path``.

    ``format``: ``"onnx"`` or ``"executorch"``; ``int8``: quantize, calibrated on
    ``calibration`` (video files or frame folders, read with the entry's test protocol; or
    ready model inputs); ``check_video``: the real clip the exported file is compared on;
    ``batch``: views per call of the exported model; ``rewrite_2d``: 3D convolutions and
    pools as 2D ones (default: for ExecuTorch, which has no 3D kernels); ``layout`` (with the
    2D rewrite): a one-video clip held as one batch of frames (``"frames"``) or as one tensor
    per frame where its frames are large (``"per-frame"``, :class:`zoo.deploy.layout.PerFrameConv`);
    by default :func:`zoo.deploy.layout.default_layout`'s: per frame for an fp32 ExecuTorch file
    of clips of up to 16 frames, the faster file there. Returns ``path``;
    the manifest is written beside it, its ``weights`` saying where they came from:
    ``"published"``, the checkpoint source, ``"given model"``, or ``"random init"`` (a name
    without ``pretrained`` or ``checkpoint``; a warning says so). ``classes``: the class names
    in output order (a list or a file) for the manifest, which :func:`zoo.predict` then uses;
    by default the model's own (``zoo finetune``'s ``classes.txt`` beside its checkpoint,
    :func:`zoo.create_model`) or the dataset's shipped list. A ``path`` ending in the other
    format's suffix (``.pte`` for ONNX, ``.onnx`` for ExecuTorch) is refused.

    Example:
        >>> import json, os, tempfile, zoo
        >>> path = zoo.export("i3d_tiny_8x4_demo", os.path.join(tempfile.mkdtemp(), "demo.onnx"), pretrained=True)
        >>> manifest = json.loads(open(str(path) + ".manifest.json").read())
        >>> manifest["format"], manifest["inputs"], manifest["views"], manifest["max_abs_diff"] < 1e-4
        ('onnx', [[1, 3, 8, 32, 32]], '5x3', True)
    """
    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if layout not in (None, *LAYOUTS):
        raise ExportError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    rewrite_2d = format == "executorch" if rewrite_2d is None else rewrite_2d
    if layout is not None and not rewrite_2d:
        raise ExportError(f"layout {layout!r} is a form of the 2D rewrite, which this export does not use "
                          "(rewrite_2d=True, zoo export --rewrite-2d)")
    path = Path(path)
    # people and tools pick a runtime by the suffix: a .pte named .onnx only fails later, in the
    # wrong runtime, with its loader's unhelpful message
    other = {suffix: fmt for fmt, suffix in FORMATS.items() if fmt != format}
    if path.suffix.lower() in other:
        raise ExportError(f"{path.name}: {path.suffix} is the {other[path.suffix.lower()]} suffix, but the format is "
                          f"{format}: name it {path.with_suffix(FORMATS[format]).name} or change the format")
    if isinstance(model_or_name, str):
        entry = get_entry(model_or_name)
        model = create_model(entry.name, pretrained=pretrained and checkpoint is None, checkpoint=checkpoint,
                             progress=False)
        weights = model.zoo_weights  # where create_model took them from
    else:  # a copy: BN folding rewrites the modules, and the caller's model stays as it was
        given, entry = model_or_name, get_entry(model_or_name.zoo_entry)
        # zoo.optimize's wrapper: export the model inside (copied alone: not the wrapper's compiled
        # call or CUDA graphs), with the wrapper's record of its weights
        model = copy.deepcopy(given.module if isinstance(given, FastModel) else given)
        if isinstance(given, FastModel):
            for name in ("zoo_entry", "zoo_weights", "zoo_classes", "zoo_weights_fingerprint"):
                if hasattr(given, name):
                    setattr(model, name, getattr(given, name))
            record = getattr(given, "zoo_untrained", None)  # its submodule named inside the wrapper
            model.zoo_untrained = None if record is None else (record[0], record[1].removeprefix("module").lstrip("."),
                                                               record[2])
        # as recorded while the weights are still those (create_model's "published", a checkpoint)
        weights = current_weights(model) or "given model"
    # which checkpoint file exactly (the source as typed may be relative, or rewritten by a later
    # run), read before anything is written
    checkpoint_record = _checkpoint_record(checkpoint) if checkpoint is not None and isinstance(model_or_name, str) else {}
    left = untrained(model)  # before BN folding changes the weights it fingerprints
    if left is not None:
        what = "random weights" if left[0] == "network" else f"an untrained new head ({left[1]})"
        warnings.warn(f"{entry.name} has {what}: the exported file's scores mean nothing "
                      "(pass pretrained=True, a checkpoint, or a trained model)", stacklevel=2)
    if int8 and not calibration:
        raise ExportError("int8 needs calibration clips: pass calibration= (videos) or zoo export --calibration FILE")
    model = model.eval().float()
    pathways = entry.arch == "slowfast"
    example = example_input(model, batch=batch)
    if check_video is None and int8 and isinstance(next(iter(calibration)), (str, os.PathLike)):
        check_video = next(iter(calibration))  # int8 error means something on real views only, not on noise
    if check_video is not None:
        example = check_views(entry, check_video, batch)
        if entry.dataset == "ava":
            raise ExportError("check_video is for classification entries; AVA detectors take a clip and boxes")
    activation = output_activation(model)
    fold_batch_norms(model, example)
    flat = _FlatInputs(model, pathways).eval()
    args = tuple(_flat(example))
    with torch.no_grad():
        eager = flat(*args)
    program = _export_program(flat, args, entry)
    if rewrite_2d:
        layout = layout or default_layout(program, format, int8)
        framed = frames_layout(program, args, per_frame=layout == "per-frame")
        if framed is program:
            layout = None  # no one-video clip (a batch of views): the rewrite alone, no layout
        program = rewrite_3d(framed, args)
    else:
        layout = None  # the clip stays 5-D
    calibration_set = _calibration_set(entry, calibration, batch) if int8 else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / path.name
        if format == "onnx":
            _write_onnx(program, args, tmp_path, int8, calibration_set)
        else:
            _write_pte(program, args, tmp_path, int8, calibration_set)
        # run by its runtime before it replaces anything: a file that fails there is not left behind
        # in place of a working one (beside that one's manifest)
        with NativeLog() as log:
            try:
                exported = runner(str(tmp_path), format)([t.contiguous() for t in args])
            except Exception as err:  # the runtime's own message, first line, and what its log said went wrong
                first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
                said = [line for line in log.lines() if ("fail" in line.lower() or "error" in line.lower())
                        and "cpuinfo" not in line][:2]  # not the CPU probe's notes, which ExecuTorch prints on first load
                raise RuntimeFailure(f"{entry.name}: {format} runtime failed on the exported file: {first}"
                                     + (f" ({'; '.join(said)})" if said else "")) from err
        os.replace(tmp_path, path)
    manifest = {
        "entry": entry.name,
        "weights": weights,  # as benchmarks.evaluate's config.json says it: a file of random weights looks like any other
        **checkpoint_record,
        "format": format,
        "int8": int8,
        "rewrite_2d": rewrite_2d,
        "layout": layout,
        "batch": batch,
        "inputs": [list(t.shape) for t in args],
        "input_names": (["slow", "fast"] if pathways else ["clip"]) + (["boxes"] if entry.dataset == "ava" else []),
        "frames": entry.num_frames,
        "sampling_rate": entry.sampling_rate,
        "side_size": entry.side_size,
        "crop_size": entry.crop_size,
        "mean": list(entry.mean),
        "std": list(entry.std),
        "alpha": entry.alpha,
        "views": f"{entry.temporal_clips}x{entry.spatial_crops}",
        "protocol": {key: item["value"] for key, item in protocol_of(entry).items() if isinstance(item, dict)},
        "output_activation": activation,
        "classes": _classes(entry, eager.shape[-1], classes, getattr(model, "zoo_classes", None)),
        "untrained": None if left is None else {"what": left[0], "module": left[1]},
        "calibration": _describe_calibration(calibration, len(calibration_set)) if int8 else None,
        "check_input": str(check_video) if check_video is not None else "random (no check_video given)",
        "versions": {"torch": torch.__version__, "python": platform.python_version(),
                     "runtime": {"onnx": {"onnx": _version("onnx"), "onnxruntime": _version("onnxruntime")},
                                 "executorch": {"executorch": _version("executorch"), "torchao": _version("torchao")}}[format]},
    }
    manifest["max_abs_diff"] = float((exported - eager).abs().max())
    manifest["output_scale"] = float(eager.abs().max())
    write_manifest(path, manifest)
    return path


def _checkpoint_record(checkpoint) -> dict:
    path = fetch(checkpoint, progress=False)  # local, or already in the cache from create_model
    return {"weights_file": str(Path(path).resolve()), "weights_sha256": sha256_of(path)}


def _export_program(flat: nn.Module, args: tuple, entry) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(flat, args)
    except Exception as err:  # name what failed: the exporter's message says which operator
        raise ExportError(f"{entry.name}: torch.export failed: {err.__class__.__name__}: {str(err).splitlines()[0]}") from err


def _classes(entry, count: int, given=None, own: list[str] | None = None) -> list[str] | None:
    """The manifest's class names: ``given`` (a list or file; refused unless it names ``count``),
    else the model's own (a fine-tuned checkpoint's), else the dataset's shipped list if it fits."""
    if given is not None:
        names = read_class_names(given) if isinstance(given, (str, os.PathLike)) else [str(n) for n in given]
        if len(names) != count:
            raise ExportError(f"{entry.name}: the class list given has {len(names)} names, the model {count} outputs")
        return names
    if own is not None and len(own) == count:
        return list(own)
    try:
        names = class_names(entry)
    except ClassListUnavailable:
        return None
    return names if len(names) == count else None


def _calibration_set(entry, calibration, batch: int) -> list[list[torch.Tensor]]:
    items = list(calibration)
    if items and isinstance(items[0], (str, os.PathLike)):
        items = calibration_inputs(entry, items, batch)
    return [_flat(item) for item in items]


def _describe_calibration(calibration, count: int) -> dict:
    items = list(calibration)
    named = [str(c) for c in items if isinstance(c, (str, os.PathLike))]
    return {"inputs": count, "videos": named or None}


def _write_onnx(program, args: tuple, path: Path, int8: bool, calibration: list) -> None:
    fp32 = path.with_suffix(".fp32.onnx") if int8 else path
    onnx_program = torch.onnx.export(program, args, dynamo=True, external_data=False, verbose=False)
    onnx_program.save(str(fp32))
    if not int8:
        return
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnxruntime as ort

    names = [i.name for i in ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {n: t.numpy() for n, t in zip(names, item)}

    prepared = path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(prepared))
    quantize_static(str(prepared), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def _write_pte(program, args: tuple, path: Path, int8: bool, calibration: list) -> None:
    from executorch.exir import to_edge_transform_and_lower

    from zoo.deploy.xnnpack import Int8SigmoidQuantizer, partitioner, silu_as_sigmoid_mul

    if int8:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        # Swish in int8 too (zoo.deploy.xnnpack): the stock quantizer leaves it in float
        prepared = prepare_pt2e(silu_as_sigmoid_mul(program.module()), Int8SigmoidQuantizer())
        with torch.no_grad():
            for item in calibration:
                prepared(*item)
        program = torch.export.export(convert_pt2e(prepared), args)
    try:
        lowered = to_edge_transform_and_lower(program, partitioner=[partitioner()]).to_executorch()
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        if "Missing out variants" in first:  # an operator ExecuTorch has no kernel for
            raise ExportError(f"ExecuTorch has no kernel for {first.split(':', 1)[1].strip()} "
                              f"(e.g. torchvision::roi_align, the AVA detectors' RoIAlign); export to onnx instead") from err
        raise ExportError(f"ExecuTorch lowering failed: {err.__class__.__name__}: {first}") from err
    path.write_bytes(lowered.buffer)
