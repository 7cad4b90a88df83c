"""Checkpoints: fetch (path, file://, https://, hf://), cache, verify and load state dicts.

Published files are PyTorch pickles with the state dict under ``"model_state"`` (PyTorchVideo)
or plain state dicts (torchvision). They are
always read with ``torch.load(..., weights_only=True)``: a pickle that would run code on load
is refused. Downloads go to the torch hub cache (``$TORCH_HOME/hub/checkpoints``), are
written atomically (temp file + rename) and checked against a sha256 when one is known (the
whole digest, or a prefix of 8+ hex digits such as torchvision's file names carry); a
cached file is used without touching the network (offline use).

Example:
    >>> import torch, tempfile, os, zoo
    >>> model = torch.nn.Linear(2, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.pyth")
    >>> torch.save({"model_state": model.state_dict()}, path)
    >>> _ = zoo.load_checkpoint(torch.nn.Linear(2, 3), path)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class ChecksumError(ValueError):
    """The file's sha256 is not the expected one."""


class DownloadError(FileNotFoundError):
    """A checkpoint that could not be downloaded (no network, an HTTP error). A
    :class:`FileNotFoundError`, so every command that reports a checkpoint it cannot find
    reports this one too, in one line that names the URL and what to do offline."""


class CheckpointMismatchError(RuntimeError):
    """A state dict does not fit the model: names the missing, unexpected and mis-shaped keys."""


def cache_dir() -> Path:
    """Where downloaded checkpoints live: the torch hub cache, under ``$TORCH_HOME``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(url: str) -> Path:
    """Where ``url`` is cached: its host and full path under :func:`cache_dir`.

    Keyed by the whole URL, not the file name alone: the Kinetics, SSv2 and Charades files are
    all called ``SLOW_8x8_R50.pyth``, and one must never be served for another.
    """
    parsed = urllib.parse.urlparse(url)
    parts = [p for p in urllib.request.url2pathname(parsed.path).split("/") if p not in ("", ".", "..")]
    return cache_dir().joinpath(parsed.netloc or parsed.scheme, *parts)


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read in ``chunk``-byte blocks (checkpoints are large).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "empty.bin")
        >>> _ = open(path, "wb")
        >>> sha256_of(path)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, sha256: str | None, *, source: str, remove_on_mismatch: bool) -> None:
    if not sha256:
        return
    actual = sha256_of(path)
    # A prefix (torchvision's file names carry the first 8+ hex digits, as torch.hub checks them)
    # is checked as a prefix; a full digest must match whole.
    if len(sha256) < 8:
        raise ValueError(f"sha256 {sha256!r} for {source}: give the whole digest or a prefix of at least 8 hex digits")
    if not actual.lower().startswith(sha256.lower()):
        if remove_on_mismatch:
            # huggingface_hub's snapshot entries are symlinks to blobs: drop both
            target = path.resolve()
            path.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
        raise ChecksumError(
            f"sha256 mismatch for {source}: expected {sha256.lower()}, got {actual}"
            + (" (the bad file was removed from the cache)" if remove_on_mismatch else "")
        )


def _download(url: str, dest: Path, *, progress: bool, mtime_ns: int | None = None) -> None:
    """Stream ``url`` into ``dest`` atomically: a partial download never looks finished.
    ``mtime_ns``: the modification time the file gets before it appears (a ``file://`` source's)."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        if mtime_ns is not None:  # before the rename: another process never sees the copy without it
            os.utime(tmp_name, ns=(mtime_ns, mtime_ns))
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get(
        "VIDEOZOO_OFFLINE", "0"
    ) not in ("", "0")


def local_file(source: str | os.PathLike) -> Path | None:
    """The file on this machine a checkpoint source names: a path (a folder: its checkpoint file,
    :func:`checkpoint_in_folder`, or the folder itself when it has none) or a ``file://`` URL's
    path; None for a download (``https://``, ``hf://``). The file need not exist.

    Example:
        >>> local_file("hf://owner/repo/model.pt") is None, local_file("file:///w/m.pt").as_posix()
        (True, '/w/m.pt')
    """
    source = os.fspath(source)
    scheme = urllib.parse.urlparse(source).scheme
    if scheme == "file":
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(source).path))
    if scheme != "" and not re.match(r"^[A-Za-z]:[\\/]", source):  # a Windows drive is a path
        return None
    path = Path(source)
    if path.is_dir():
        try:
            return checkpoint_in_folder(path)
        except FileNotFoundError:
            return path
    return path


def fetch(source: str | os.PathLike, *, sha256: str | None = None, progress: bool = True) -> Path:
    """Return a local path for ``source``, downloading into the cache when needed.

    ``source`` is a local path, a ``file://`` or ``https://`` URL (cached under
    :func:`cache_dir`), or ``hf://<repo_id>/<filename>`` (through huggingface_hub's cache).
    """
    source = os.fspath(source)
    scheme = urllib.parse.urlparse(source).scheme
    if scheme == "file":
        # A file:// URL is treated like any URL: copied into the cache, so the cache and
        # offline behaviour are the same as for https (and testable without a network); the
        # copy is renewed when the file changes (_stale).
        return _fetch_url(source, sha256=sha256, progress=progress, local_source=local_file(source))
    if scheme == "" or re.match(r"^[A-Za-z]:[\\/]", source):
        path = Path(source)
        if path.is_dir():
            path = checkpoint_in_folder(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {source}")
        _verify(path, sha256, source=source, remove_on_mismatch=False)
        return path
    if scheme in ("http", "https"):
        return _fetch_url(source, sha256=sha256, progress=progress)
    if scheme == "hf":
        return _fetch_hf(source, sha256=sha256)
    raise ValueError(f"unsupported checkpoint source {source!r}: use a path, file://, https:// or hf://")


#: How far a ``file://`` source's modification time may be from its cached copy's and still be
#: the same file (file systems keep times at different precisions).
STALE_AFTER_NS = 2_000_000_000


def _stale(dest: Path, local_source: Path | None) -> bool:
    """A cached copy of a ``file://`` source that the file has since changed: a retrained checkpoint
    saved at the same path must not be served as the old one. The copy carries the source's
    modification time (:func:`_fetch_url`), so another time or size means another file."""
    if local_source is None or not local_source.is_file() or not dest.is_file():
        return False
    source, copy = local_source.stat(), dest.stat()
    # within 2 s: a cache on a file system of coarser times (FAT's 2 s) would otherwise copy on every load
    return source.st_size != copy.st_size or abs(source.st_mtime_ns - copy.st_mtime_ns) > STALE_AFTER_NS


#: Suffixes of PyTorch checkpoint files, for a folder given as a checkpoint.
CHECKPOINT_SUFFIXES = (".pyth", ".pth", ".pt", ".bin", ".ckpt")


#: The file a folder's weights are in when it holds several checkpoint files, first found first:
#: a ``zoo finetune`` run folder's model (beside its ``train_state.pt``, which resumes the
#: training), a Hugging Face-style folder's.
FOLDER_CHECKPOINTS = ("model.pyth", "pytorch_model.bin")


def checkpoint_in_folder(folder: Path) -> Path:
    """The checkpoint file in ``folder``: :data:`FOLDER_CHECKPOINTS` (a ``zoo finetune`` run
    folder's ``model.pyth``, a Hugging Face-style folder's ``pytorch_model.bin``), else its only
    checkpoint file; an error naming the candidates otherwise.

    Example:
        >>> import os, tempfile
        >>> run = tempfile.mkdtemp()
        >>> for name in ("model.pyth", "train_state.pt", "classes.txt"):
        ...     _ = open(os.path.join(run, name), "wb")
        >>> checkpoint_in_folder(Path(run)).name
        'model.pyth'
    """
    for name in FOLDER_CHECKPOINTS:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"checkpoint {folder} is a folder with no checkpoint file "
                                f"({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}): pass the file")
    raise FileNotFoundError(f"checkpoint {folder} is a folder of {len(found)} checkpoint files "
                            f"({', '.join(p.name for p in found[:5])}): pass the one to load")


#: How to load a file at hand instead, said by every error of a checkpoint that could not be fetched.
LOCAL_COPY_HINT = "load a local copy instead (zoo predict/evaluate --checkpoint PATH; Python checkpoint=PATH)"


def _fetch_url(url: str, *, sha256: str | None, progress: bool, local_source: Path | None = None) -> Path:
    dest = cached_path(url)
    if not dest.is_file() or _stale(dest, local_source):
        if local_source is not None and not local_source.is_file():
            raise FileNotFoundError(f"checkpoint not found: {url} (and not in the cache {dest})")
        if local_source is None and (reused := _torch_hub_copy(url, sha256)) is not None:
            return reused
        if _offline() and local_source is None:  # a file:// source is on this machine: no network
            raise DownloadError(f"offline and {url} is not in the cache ({dest}); put the file there, or "
                                f"{LOCAL_COPY_HINT}{_torch_hub_note(url, dest, sha256)}")
        try:
            _download(url, dest, progress=progress,
                      mtime_ns=local_source.stat().st_mtime_ns if local_source is not None else None)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", None) or err
            raise DownloadError(
                f"could not download {url} ({reason}); offline, put the file at {dest} (where it is looked "
                f"for first), or {LOCAL_COPY_HINT}; VIDEOZOO_OFFLINE=1 skips the network"
                f"{_torch_hub_note(url, dest, sha256)}") from err
    _verify(dest, sha256, source=url, remove_on_mismatch=True)
    return dest


def _torch_hub_copy(url: str, sha256: str | None) -> Path | None:
    """The copy of ``url`` that ``torch.hub.load_state_dict_from_url`` (PyTorchVideo's and
    torchvision's own loaders) keeps flat in the same folder, by file name alone, when its sha256
    is known and matches: a file downloaded by those libraries is not downloaded again. Without a
    digest a file name proves nothing (Kinetics', SSv2's and Charades' ``SLOW_8x8_R50.pyth``)."""
    flat = cache_dir() / Path(urllib.parse.urlparse(url).path).name
    if not sha256 or len(sha256) < 8 or not flat.is_file():
        return None
    return flat if sha256_of(flat).lower().startswith(sha256.lower()) else None


def _torch_hub_note(url: str, dest: Path, sha256: str | None) -> str:
    """A note for a missing checkpoint of no known sha256 whose file name is in torch.hub's flat
    cache (with a digest, :func:`_torch_hub_copy` has already used it, or it is another file)."""
    flat = cache_dir() / Path(urllib.parse.urlparse(url).path).name
    if sha256 or flat == dest or not flat.is_file():
        return ""
    return (f" (torch.hub's cache holds a file of that name, {flat}, perhaps from PyTorchVideo or torchvision; "
            "with no sha256 to check it against, it is not used unasked: if it is this checkpoint, pass it as "
            "the checkpoint)")


def _fetch_hf(source: str, *, sha256: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    parts = source[len("hf://") :].split("/")
    if len(parts) < 3:
        raise ValueError(f"expected hf://<owner>/<repo>/<filename>, got {source!r}")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    from huggingface_hub.utils import LocalEntryNotFoundError  # also in releases before huggingface_hub.errors

    offline = _offline()  # VIDEOZOO_OFFLINE too, not only huggingface_hub's own HF_HUB_OFFLINE
    try:
        path = Path(hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=offline))
    except LocalEntryNotFoundError as err:
        from huggingface_hub.constants import HF_HUB_CACHE

        where = f"offline and {source} is not" if offline else f"could not download {source}, and it is not"
        raise DownloadError(f"{where} in the Hugging Face cache ({HF_HUB_CACHE}); {LOCAL_COPY_HINT}"
                            + ("" if offline else "; VIDEOZOO_OFFLINE=1 skips the network (and its retries)")) from err
    _verify(path, sha256, source=source, remove_on_mismatch=True)
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a checkpoint file safely and return its state dict (``"model_state"``, ``"state_dict"``
    or ``"model"`` unwrapped).

    A file that is not one is refused in one line that says why: it pickles Python objects (a
    whole model saved with ``torch.save(model)``: which class, and what to save instead), it is
    truncated or not a PyTorch file at all, or it holds a mapping of something else.

    Example:
        >>> import os, tempfile, torch
        >>> from zoo.checkpoints import read_state_dict
        >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
        >>> torch.save({"model_state": {"fc.weight": torch.zeros(2, 3)}}, path)
        >>> list(read_state_dict(path))
        ['fc.weight']
        >>> torch.save({"epoch": 3}, path)
        >>> read_state_dict(path)
        Traceback (most recent call last):
        ...
        RuntimeError: .../m.pt does not hold a state dict: its values are not tensors (top-level keys: epoch; ...)
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named, in one line
        raise RuntimeError(f"refusing to load {path}: it is not a plain tensor checkpoint: {_load_failure(path, err)}") from err
    if isinstance(obj, Mapping):
        for key in ("model_state", "state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise RuntimeError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = list(obj)
        shown = ", ".join(map(str, keys[:8])) + (f", ... ({len(keys)} keys)" if len(keys) > 8 else "")
        raise RuntimeError(f"{path} does not hold a state dict: its values are not tensors (top-level keys: {shown}; "
                           "a state dict maps parameter names to tensors, itself or under 'model_state', "
                           "'state_dict' or 'model')")
    return dict(obj)


def _load_failure(path, err: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in words for the person holding it
    (not torch's advice to retry with ``weights_only=False``, which would run the file's code)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # torch bolds parts of its message for terminals
    pickled = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if pickled:
        return (f"it pickles {pickled[1]} (a whole model, or Python objects beside the weights); save "
                "model.state_dict() alone instead")
    with open(path, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"  # torch.save's zip format, which torch could not read back
    if zipped or "zip archive" in text:  # a cut-short download or copy
        first = text.strip().split(". ")[0].splitlines()[0] if text.strip() else err.__class__.__name__
        return f"truncated or corrupt ({os.path.getsize(path)} bytes; {first})"
    said = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)  # not a pickle of tensors at all
    first = said[1].strip() if said else (text.strip().splitlines() or [""])[0]
    return f"not a PyTorch checkpoint file ({err.__class__.__name__}{': ' + first if first else ''})"


def describe_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor], limit: int = 10) -> str | None:
    """A human-readable account of how ``state`` fails to fit ``model``; None when it fits."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or wrong):
        return None

    def show(title: str, items: list[str]) -> str:
        more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
        return f"\n  {title} ({len(items)}): " + ", ".join(items[:limit]) + more

    fitting = len(expected) - len(missing) - len(wrong)
    # most keys absent or mis-shaped: not a damaged file of this model but another model's file
    other = (f" (only {fitting} of the model's {len(expected)} weights are in it with their shape: a checkpoint "
             "of another architecture or entry?)") if fitting < len(expected) / 2 else ""
    return (
        f"checkpoint does not fit the model{other}:"
        + (show("missing keys", missing) if missing else "")
        + (show("unexpected keys", unexpected) if unexpected else "")
        + (show("wrong shapes", wrong) if wrong else "")
    )


#: Key layouts every model accepts besides its own: PySlowFast trains the same module tree
#: inside a wrapper, so its files prefix every key with ``model.``.
DEFAULT_LAYOUTS = ({"model.": ""},)


def _layouts(model: nn.Module) -> list[dict[str, str]]:
    return [*getattr(model, "checkpoint_layouts", ()), *DEFAULT_LAYOUTS]


def _rename(state: Mapping[str, torch.Tensor], mapping: dict[str, str]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        for file_prefix, model_prefix in mapping.items():
            if key.startswith(file_prefix):
                key = model_prefix + key[len(file_prefix) :]
                break
        renamed[key] = value
    return renamed


def _roots(keys) -> str:
    return ", ".join(repr(r + ".") for r in sorted({k.split(".", 1)[0] for k in keys}))


def detect_layout(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Say which key layout a state dict has, next to the one the model expects.

    E.g. ``"file keys under 'model.' (a PySlowFast wrapper); the model's under 'blocks.'"``.
    """
    found = _roots(state)
    wrapped = any(k.startswith("model.") for k in state)
    kind = " (a PySlowFast/PyTorchVideo wrapper)" if wrapped else ""
    return f"file keys under {found}{kind}; the model's under {_roots(model.state_dict())}"


def adapt_layout(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map known alternative key layouts onto the model's own.

    Besides its own layout, a model accepts :data:`DEFAULT_LAYOUTS` and any it declares in
    ``checkpoint_layouts``: ``{file_prefix: model_prefix}`` maps (e.g. PySlowFast's ``model.``
    wrapper). A layout is used only if it maps the file's keys exactly onto the model's, so
    there is never a guess between two layouts.
    """
    expected = set(model.state_dict())
    if set(state) == expected:
        return dict(state)
    candidates = [_rename(state, mapping) for mapping in _layouts(model)]
    for renamed in candidates:
        if set(renamed) == expected:
            return renamed
    # No exact fit: return the closest reading, so the error names the truly offending keys.
    return min([dict(state), *candidates], key=lambda c: len(set(c) ^ expected))


def load_state_dict_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> nn.Module:
    """``load_state_dict(strict=True)`` with an error that names the offending keys."""
    adapted = adapt_layout(model, state)
    problem = describe_mismatch(model, adapted)
    if problem:
        layout = detect_layout(model, state)
        raise CheckpointMismatchError(f"{source} ({len(state)} keys; {layout}): {problem}")
    state = adapted
    model.load_state_dict(state, strict=True)
    return model


def head_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The classifier of a zoo model, ``(name, module)``: its last ``nn.Linear`` (or 1x1x1
    ``nn.Conv3d``, torchvision's S3D) in module order, the layer a new head replaces and whose
    input is the video's embedding.

    Example:
        >>> import zoo
        >>> head_layer(zoo.create_model("i3d_tiny_8x4_demo"))[0]
        'blocks.6.proj'
    """
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv3d) and tuple(module.kernel_size) == (1, 1, 1)):
            found = (name, module)
    if found is None:
        raise ValueError(f"{type(model).__name__} has no linear classifier")
    return found


def head_classes(model: nn.Module, state: Mapping[str, torch.Tensor]) -> int | None:
    """Rows of the classifier (:func:`head_layer`) in ``state``, read in the model's key layout;
    None when the state has no such weight."""
    weight = adapt_layout(model, state).get(head_layer(model)[0] + ".weight")
    return int(weight.shape[0]) if weight is not None else None


def load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> nn.Module:
    """Load every weight of ``state`` except the classifier's (:func:`head_layer`), which keeps its
    own (e.g. a new head sized to other classes). Every other key must fit, as in
    :func:`load_state_dict_strict`.

    Example:
        >>> import torch
        >>> old, new = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 400)), \\
        ...     torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 10))
        >>> _ = load_backbone(new, old.state_dict())
        >>> torch.equal(new[0].weight, old[0].weight), tuple(new[1].weight.shape)
        (True, (10, 3))
    """
    head = head_layer(model)[0] + "."
    adapted = adapt_layout(model, state)
    own = model.state_dict()
    body = {k: v for k, v in adapted.items() if not k.startswith(head)}
    expected = {k: v for k, v in own.items() if not k.startswith(head)}
    missing = sorted(set(expected) - set(body))
    unexpected = sorted(set(body) - set(expected))
    wrong = [f"{k}: checkpoint {tuple(body[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in body and tuple(body[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(f"{title}: {', '.join(items[:10])}" for title, items in
                           (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)) if items)
        raise CheckpointMismatchError(f"{source}: the backbone does not fit the model ({detail})")
    model.load_state_dict({**own, **body}, strict=True)
    return model


def load_checkpoint(
    model: nn.Module,
    source: str | os.PathLike,
    *,
    sha256: str | None = None,
    progress: bool = True,
    head: bool = True,
) -> nn.Module:
    """Load weights from ``source`` (path, file:// or https URL, hf://repo/file) into ``model``.

    ``head=False``: every weight but the classifier's (:func:`load_backbone`), for a model whose
    head was sized to other classes.

    Example:
        >>> import torch, tempfile, os, zoo
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pyth")
        >>> torch.save({"model_state": torch.nn.Linear(2, 2).state_dict()}, path)
        >>> type(zoo.load_checkpoint(torch.nn.Linear(2, 2), "file://" + path)).__name__
        'Linear'
    """
    path = fetch(source, sha256=sha256, progress=progress)
    state = read_state_dict(path)
    if not head:
        return load_backbone(model, state, source=os.fspath(source))
    return load_state_dict_strict(model, state, source=os.fspath(source))
