"""An exported model on disk: the file, its manifest, and a module that runs it.

Beside every artifact (``model.onnx``, ``model.pte``) :func:`zoo.deploy.export` writes
``<artifact>.manifest.json``: the entry, the input (shapes, frames, sizes, mean/std, the test
protocol with its views, SlowFast's two pathways), the class names in output order, what the
outputs are (logits or probabilities), the sha256 of the file, the versions of torch and of the
runtime, how it was made (format, int8, the 2D rewrite, the calibration set) and the measured
max ``|exported - eager|`` on a real clip. :func:`load_artifact` refuses a file whose sha256
is not the manifest's, and returns an :class:`ArtifactModel`, which the evaluation runs like
any model: a batch of views in, ``(B, classes)`` out.

Example:
    >>> import json, os, tempfile
    >>> from zoo.deploy.artifact import manifest_path, read_manifest
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> _ = open(path, "wb").write(b"not really a model")
    >>> _ = open(manifest_path(path), "w").write(json.dumps({"sha256": "0" * 64}))
    >>> read_manifest(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zoo.deploy.artifact.ArtifactError: .../m.onnx: sha256 ... does not match its manifest (000...); ...
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from zoo.checkpoints import sha256_of
from zoo.provenance import RANDOM_WEIGHTS, record_weights

#: The runtimes an artifact can be made for, by file suffix.
FORMATS = {"onnx": ".onnx", "executorch": ".pte"}


#: The manifest fields :func:`read_manifest` requires: what :class:`ArtifactModel` runs the file with.
MANIFEST_KEYS = ("entry", "format", "batch", "output_activation", "sha256")


class ArtifactError(ValueError):
    """An artifact that cannot be used as it is: the message names the file and why."""


def manifest_path(artifact) -> Path:
    """Where an artifact's manifest lives: ``<artifact>.manifest.json``."""
    return Path(f"{artifact}.manifest.json")


def write_manifest(artifact, manifest: dict) -> Path:
    """Write ``manifest`` (with the artifact's sha256 filled in) beside ``artifact``, atomically."""
    manifest = {**manifest, "file": Path(artifact).name, "sha256": sha256_of(artifact)}
    path = manifest_path(artifact)
    # a temporary name of its own: two exports to one folder must not write one temporary file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_manifest(artifact) -> dict:
    """The manifest of ``artifact``, after checking that the file is the one it describes.

    Raises :class:`ArtifactError` naming the file when the artifact or its manifest is
    missing, the manifest is not valid JSON or lacks a field of :data:`MANIFEST_KEYS`, or the
    file's sha256 is not the manifest's.
    """
    artifact = Path(artifact)
    if not artifact.is_file():
        raise ArtifactError(f"{artifact}: no such file")
    path = manifest_path(artifact)
    if not path.is_file():
        raise ArtifactError(f"{artifact}: its manifest {path.name} is missing (zoo export writes it beside the file)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno}: {err.msg})" if isinstance(err, json.JSONDecodeError) else ""
        raise ArtifactError(f"{path}: not valid JSON{where}; export {artifact.name} again") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: not a manifest (a JSON object of fields); export {artifact.name} again")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    # the sha256 first: a file changed after export is the likelier news than an edited manifest
    if "sha256" not in missing:
        actual = sha256_of(artifact)
        if manifest["sha256"] != actual:
            raise ArtifactError(f"{artifact}: sha256 {actual} does not match its manifest ({manifest['sha256']}); "
                                "the file was changed or replaced after export: export it again")
    if missing:
        raise ArtifactError(f"{path}: lacks the field(s) {', '.join(missing)} that running the file needs; "
                            f"export {artifact.name} again")
    return manifest


class ArtifactModel(nn.Module):
    """An exported model run by its runtime (ONNX Runtime or ExecuTorch) as a module.

    Takes what the eager model takes (a ``(B, C, T, H, W)`` batch of views, or SlowFast's
    ``[slow, fast]``) and runs it in pieces of the batch size it was exported for.
    ``zoo_entry``, ``output_activation``, ``zoo_classes`` and the weights' record come from the
    manifest, so the evaluation and :func:`zoo.predict` treat it as the entry's model.
    """

    def __init__(self, artifact, manifest: dict, threads: int | None = None):
        super().__init__()
        if "boxes" in manifest.get("input_names", []):
            # exported for one clip size and one box: AVA's clips keep their video's aspect and
            # a keyframe has any number of people, so the harness cannot feed the file
            raise ArtifactError(f"{artifact}: an AVA detector's file takes a {manifest['inputs'][0]} clip and "
                                f"{manifest['inputs'][-1][0]} box(es), fixed at export; zoo predict and zoo evaluate "
                                "run AVA detectors from their checkpoint (--pretrained / --checkpoint)")
        self.artifact, self.manifest = str(artifact), manifest
        self.zoo_entry = manifest["entry"]
        # what zoo.predict reads of a zoo model: the class names in output order, and the
        # weights' source and untrained part (a file's weights cannot change: no fingerprint)
        self.zoo_classes = manifest.get("classes")
        left = manifest.get("untrained") or {}
        if "untrained" not in manifest and manifest.get("weights") == RANDOM_WEIGHTS:  # a manifest older than the field
            left = {"module": "", "what": "network"}
        record_weights(self, manifest.get("weights"), untrained=left.get("module"), what=left.get("what"), fingerprint=False)
        self.output_activation = manifest["output_activation"]
        self.batch = int(manifest["batch"])
        self.format = manifest["format"]
        self._run = runner(self.artifact, self.format, threads)

    def forward(self, x) -> torch.Tensor:
        inputs = list(x) if isinstance(x, (list, tuple)) else [x]
        total = inputs[0].shape[0]
        outputs = []
        for start in range(0, total, self.batch):
            chunk = [t[start: start + self.batch].detach().cpu().float().contiguous() for t in inputs]
            short = self.batch - chunk[0].shape[0]
            if short:  # the last piece, filled up to the exported batch with copies of its first item
                chunk = [torch.cat([t, t[:1].expand(short, *t.shape[1:])]) for t in chunk]
            outputs.append(self._run(chunk)[: self.batch - short])
        return torch.cat(outputs)


def runner(path: str, fmt: str, threads: int | None = None):
    """A function running the artifact at ``path`` on a list of CPU tensors, returning its first output.

    ``threads``: the runtime's intra-op threads (ONNX Runtime; default torch's count).
    ExecuTorch's XNNPACK picks its own thread pool.
    """
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        # its pool's threads would otherwise spin between calls, taking the CPU from whatever runs
        # next: the clip decoding of an evaluation, or another runtime timed in the same round
        # (efficient X3D-XS's per-frame ExecuTorch file timed right after the ONNX files at 2
        # threads: 31.8 ms, slower than at 1 thread (27.7); timed without them, 17.0)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(chunk):
            return torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, chunk)})[0])

        return run
    if fmt == "executorch":
        from executorch.runtime import Runtime

        try:  # the kernels of int8 files' (de)quantize ops outside XNNPACK's partitions register on import
            import executorch.kernels.quantized  # noqa: F401
        except ImportError:
            pass

        from zoo.deploy.native_log import NativeLog

        with NativeLog():  # its first load's notes about the CPU are not about the file: not shown
            method = Runtime.get().load_program(path).load_method("forward")

        def run(chunk):
            return method.execute(chunk)[0].clone()

        return run
    raise ArtifactError(f"{path}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def load_artifact(artifact, threads: int | None = None) -> ArtifactModel:
    """An :class:`ArtifactModel` of ``artifact``, its sha256 checked against its manifest;
    ``threads``: the runtime's (default: its own choice).

    Example:
        >>> import os, tempfile, torch, zoo
        >>> path = zoo.export("i3d_tiny_8x4_demo", os.path.join(tempfile.mkdtemp(), "demo.onnx"), pretrained=True)
        >>> model = zoo.load_artifact(path)
        >>> model.zoo_entry, model.manifest["weights"], len(model.zoo_classes)
        ('i3d_tiny_8x4_demo', 'published', 5)
        >>> zoo.predict(model, torch.zeros(16, 48, 64, 3, dtype=torch.uint8), views="1x1").model
        'i3d_tiny_8x4_demo'
    """
    return ArtifactModel(artifact, read_manifest(artifact), threads)
