"""Inference fast paths: :func:`optimize` turns a loaded zoo model into a faster one.

The switch is one function; ``zoo.create_model(name, fast=True)`` and ``zoo evaluate --fast``
call it. It is applied *after* the weights are loaded, so checkpoints keep their format;
the optimised model is for inference only (its batch norms are gone, folded into the
convolutions, so its own ``state_dict`` is not a checkpoint: save the plain model).

What it does, each step only where it measured a win. The decisions (2 shared cores of the
development machine, an AMD EPYC under other engineers' load, fp32, batch 1, one view at the
test crop unless said, interleaved repetitions, median time relative to the plain model):

==================  ==========================  =====================  =====================
step                X3D-XS 4x182x182            Slow R50 8x160x160     default on CPU
==================  ==========================  =====================  =====================
fold_bn             1.12x-1.64x (two runs)      1.02x                  on
channels_last       1.15x alone; fold+CL 1.39x  fold+CL 1.12x          off (compile decides
                    (below fold alone)                                 its own layout: fold+
                                                                       compile+CL = fold+
                                                                       compile, 1.99x)
compile (+fold)     1.99x                       1.78x                  on
host_memory         at 30 views: 1.26x          X3D-S, 30 views: 1.63x on (process-wide)
                    (``results/host_memory.md``, separate processes)
==================  ==========================  =====================  =====================

``results/speed.md`` has the per-entry figures against PyTorchVideo on CPU, ``results/gpu/``
on one H200 (``benchmarks/perf/gpu_speed.sh``; torch 2.11). The GPU decisions, from
``results/gpu/fast_ablation.md`` and ``results/gpu/speed.md`` (speed-up over our plain model):

==================  ======================  =========================  ======================
step                X3D-XS (b1 / b16)       SlowFast R50 (b1 / b16)    default on GPU
==================  ======================  =========================  ======================
fold_bn             1.37x / 1.37x           (refused: TF32 check, now  on
                                            exact fp32)
channels_last       0.98x / 1.02x; with     bf16: 1.08x / 1.13x;       bf16/fp16 and no
                    graphs 0.73x / 0.52x    full fp32 ResNets at b16:  grouped convs only
                                            0.84-0.88x of the ref
cuda_graph          6.5x / 2.0x (fp32)      2.8x / 1.01x               on (not detection)
fold+graph          7.7x / 2.2x             -                          -
==================  ======================  =========================  ======================

Grouped (depthwise) convolutions in NDHWC ran at 0.45-0.6x on cuDNN (X3D-S/M/L, CSN at
batch 16), hence the rule. The fp32 channels_last rows of ``results/gpu/speed.md`` were
measured before the rule changed to "reduced precision only"; the next run with a GPU
re-measures them.

- **Batch norm folded into the preceding convolution** (``fold_bn``): an eval-mode BN is an
  affine map per channel, so ``BN(conv(x)) = conv'(x)`` with scaled weights and a bias. It
  saves one full pass over every activation tensor. The pairs are found by running the
  model once on an example input with hooks (a BN whose input *is* a convolution's output
  tensor), so every family (ResNet, SlowFast, CSN, R(2+1)D, X3D, MViT, detection) is
  covered without per-family tables. The folded model is checked against the plain one on
  that input (``check``); a mismatch restores the plain model with a warning.
- **channels_last_3d** (``channels_last``): NDHWC memory layout for the weights and the
  input; oneDNN (CPU) and cuDNN (GPU) run 3D convolutions in it without reorders.
- **torch.compile** (``compile``, inductor): graph capture, fused element-wise work and,
  on CPU, frozen prepacked weights (``freezing``). Compiling happens on the first call with
  the example input; if it fails (no compiler, unsupported op) the eager model is used and
  a warning says why. Compiled kernels are cached on disk (``TORCHINDUCTOR_CACHE_DIR``,
  default ``$TORCH_HOME/zoo_inductor``), so a second process starts fast.
- **Freed CPU memory kept** (``host_memory``, CPU): glibc hands every block above 32 MiB
  back to the kernel when it is freed, so a model at a whole video's views (activations of
  that size) gets fresh pages on every call, zeroed one page fault at a time.
  :func:`zoo.host_memory.keep_freed_memory` raises glibc's thresholds so such blocks stay
  with the process and are reused. Process-wide and lasting (the resident size stays at its
  peak); DataLoader workers of ``zoo evaluate`` do the same for their view batches.
- **Attention**: MViT already calls ``F.scaled_dot_product_attention`` (the fused kernel:
  flash/memory-efficient on GPU, the fused CPU kernel otherwise); nothing to change.
- **GPU only** (``device="cuda"``): ``torch.backends.cudnn.benchmark`` (fixed input shapes
  in an evaluation, so the autotuned algorithm is reused) and autocast to ``bf16``/``fp16``
  (``dtype``); batching the views of several videos into one forward pass is
  :func:`zoo.view_batches.forward_views` / ``zoo evaluate --batch-size`` (the caller chooses
  the batch).
- **CUDA graphs** (``cuda_graph``, GPU only): the whole forward pass is captured once per
  input shape and replayed, so a small model at a small batch no longer waits on Python and
  on hundreds of kernel launches. The same kernels run on the same data, so the output is
  the eager one. The input is copied into the graph's own buffer and the output copied out,
  so callers see ordinary tensors; at most :data:`MAX_GRAPHS` shapes are kept (an
  evaluation has one or two: the full view batch and the last partial one). Detection
  models (a different box count per keyframe) are not captured by default.

Example:
    >>> import torch, zoo
    >>> plain = zoo.create_model("x3d_xs")
    >>> model = zoo.create_model("x3d_xs")
    >>> _ = model.load_state_dict(plain.state_dict())
    >>> x = torch.randn(1, 3, 4, 64, 64)
    >>> fast = zoo.optimize(model, example=x, compile=False)  # compile=True: slower start, faster runs
    >>> fast.fast_paths[0]  # then host_memory where the C library is glibc
    'fold_bn'
    >>> bool((fast(x) - plain(x)).abs().max() < 1e-4)
    True
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from zoo.host_memory import keep_freed_memory
from zoo.provenance import current_weights, record_weights, untrained
from zoo.view_batches import forward_views  # its first home was here: still importable from zoo.fast


class _CpuCompileNotice(logging.Filter):
    """Drops torch's "No CUDA runtime is found, using CUDA_HOME=..." warning: torch.compile on a CPU
    machine with a CUDA build of torch logs it once per process, and a CPU user can do nothing about
    it (the compiled model runs on the CPU either way). Every other message of that logger shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No CUDA runtime is found")


logging.getLogger("torch.utils.cpp_extension").addFilter(_CpuCompileNotice())

__all__ = [
    "AUTOCAST_DTYPES", "CUDAGraphs", "DEFAULTS", "FastModel", "MAX_GRAPHS", "channels_last_pays", "conv_bn_pairs",
    "example_input", "exact_fp32", "fold_batch_norms", "fold_conv_bn", "forward_views", "optimize",
]

#: Reduced-precision dtypes accepted for ``dtype`` (autocast; fp32 is the plain model).
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: What ``optimize`` does by default on each device (decided by ``zoo speed``; see above).
DEFAULTS = {
    "cpu": {"fold_bn": True, "channels_last": False, "compile": True, "cuda_graph": False, "host_memory": True},
    "cuda": {"fold_bn": True, "channels_last": "auto", "compile": False, "cuda_graph": True, "host_memory": False},
}

#: Input shapes whose CUDA graph is kept (least recently used dropped first).
MAX_GRAPHS = 4

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def example_input(model_or_entry, *, batch: int = 1, frames: int | None = None, size: int | None = None,
                  device: str | torch.device = "cpu") -> object:
    """A random input of the right form for a zoo model (or entry): tensor, ``[slow, fast]``,
    or ``(clip, boxes)`` for AVA detectors. ``frames``/``size`` default to the entry's test clip.

    Example:
        >>> import zoo
        >>> example_input(zoo.get_entry("slowfast_r50"), frames=8, size=32)[0].shape
        torch.Size([1, 3, 2, 32, 32])
    """
    from zoo.registry import get_entry  # the registry, not the package: zoo/__init__ imports this module

    entry = model_or_entry
    if isinstance(model_or_entry, nn.Module):
        entry = get_entry(model_or_entry.zoo_entry)
    frames = frames or entry.num_frames
    size = size or entry.crop_size
    gen = torch.Generator().manual_seed(0)
    clip = torch.randn(batch, 3, frames, size, size, generator=gen).to(device)
    if entry.arch == "slowfast":
        from zoo.transforms import slow_indices

        clip = [clip.index_select(2, slow_indices(frames, entry.alpha).to(clip.device)), clip]
    if entry.dataset == "ava":
        boxes = torch.tensor([[b, 2.0, 2.0, size - 3.0, size - 3.0] for b in range(batch)], device=device)
        return (clip, boxes)
    return clip


def _call(model: nn.Module, example):
    return model(*example) if isinstance(example, tuple) else model(example)


def conv_bn_pairs(model: nn.Module, example) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` for every BN whose input is exactly a convolution's output.

    Found by one forward pass with hooks. In every zoo family such a conv output feeds only
    that BN (:func:`optimize` still checks the folded model's output).
    """
    names = {m: n for n, m in model.named_modules()}
    produced: dict[int, nn.Module] = {}
    keep: list[torch.Tensor] = []  # hold outputs so ids are not reused during the pass
    pairs: dict[str, str] = {}

    def after_conv(module, _inputs, output):
        produced[id(output)] = module
        keep.append(output)

    def before_norm(module, inputs):
        conv = produced.get(id(inputs[0]))
        if conv is not None and names[module] not in pairs.values():
            pairs[names[conv]] = names[module]

    handles = []
    for module in model.modules():
        if isinstance(module, _CONVS):
            handles.append(module.register_forward_hook(after_conv))
        elif isinstance(module, _NORMS):
            handles.append(module.register_forward_pre_hook(before_norm))
    try:
        with torch.no_grad():
            _call(model, example)
    finally:
        for h in handles:
            h.remove()
    # a conv reused by two BNs (or one BN fed by two convs) cannot be folded
    seen: dict[str, int] = {}
    for bn in pairs.values():
        seen[bn] = seen.get(bn, 0) + 1
    return [(c, b) for c, b in pairs.items() if seen[b] == 1]


def fold_conv_bn(conv: nn.Module, bn: nn.Module) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place: ``bn(conv(x)) == conv(x)`` afterwards."""
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
        weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype).detach().clone(), requires_grad=False)


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def fold_batch_norms(model: nn.Module, example) -> int:
    """Fold every foldable BN of ``model`` (eval mode) into its convolution; returns how many."""
    pairs = conv_bn_pairs(model, example)
    for conv_name, bn_name in pairs:
        fold_conv_bn(model.get_submodule(conv_name), model.get_submodule(bn_name))
        _set_submodule(model, bn_name, nn.Identity())
    return len(pairs)


def _max_diff(a, b) -> float:
    if isinstance(a, torch.Tensor):
        return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0
    return max(_max_diff(x, y) for x, y in zip(a, b, strict=True))


def _max_abs(a) -> float:
    if isinstance(a, torch.Tensor):
        return float(a.float().abs().max()) if a.numel() else 0.0
    return max(_max_abs(x) for x in a)


def _tolerance(reference, atol: float) -> float:
    """``atol``, scaled by the output's magnitude where that exceeds 1: fp32 rounding grows
    with it (deep networks with random weights give logits in the hundreds), and a wrong
    fold changes outputs by far more than 1e-4 of their scale."""
    return atol * max(1.0, _max_abs(reference))


def _to_channels_last(x):
    if isinstance(x, torch.Tensor):
        return x.contiguous(memory_format=torch.channels_last_3d) if x.dim() == 5 else x
    if isinstance(x, list | tuple):
        return type(x)(_to_channels_last(v) for v in x)
    return x


def _inductor_cache_dir() -> str:
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        home = os.environ.get("TORCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "torch")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(home) / "zoo_inductor")
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


def _tensors(x) -> list[torch.Tensor]:
    """The tensors of a (nested) input, in order."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, list | tuple):
        return [t for v in x for t in _tensors(v)]
    return []


def _static_copy(x):
    """A copy of a (nested) input in fresh dense tensors (same layout where the input is dense;
    an expanded input becomes a real one): the graph's input buffer."""
    if isinstance(x, torch.Tensor):
        return torch.empty_like(x, memory_format=torch.preserve_format).copy_(x)
    if isinstance(x, list | tuple):
        return type(x)(_static_copy(v) for v in x)
    return x


def _clone(x):
    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, list | tuple):
        return type(x)(_clone(v) for v in x)
    return x


class CUDAGraphs:
    """Runs ``fn(*args)`` by replaying a CUDA graph captured for the arguments' shapes.

    Capture follows PyTorch's recipe: warm up on a side stream (cuDNN's autotuning and the
    allocator's first requests happen there, outside the graph), then record one call into
    a graph with its own memory pool. A replay reads the static input buffers, so each call
    first copies its arguments into them, and the output (the graph's static tensor, which
    the next replay overwrites) is cloned before it is returned.
    """

    def __init__(self, fn, max_graphs: int = MAX_GRAPHS, warmup: int = 2, watch: nn.Module | None = None):
        from collections import OrderedDict

        self.fn = fn
        self.max_graphs = max_graphs
        self.warmup = warmup
        self.graphs: OrderedDict = OrderedDict()
        self.failed: set = set()  # shapes whose capture failed: run eagerly, never retried
        # a graph reads the weights at the addresses they had at capture: if the module's
        # tensors move (.to(), a new memory format), every graph is dropped and captured again
        self.watch = watch
        self._addresses = self._weights()

    def _weights(self) -> tuple:
        if self.watch is None:
            return ()
        return tuple(t.data_ptr() for t in (*self.watch.parameters(), *self.watch.buffers()))

    @staticmethod
    def signature(args) -> tuple:
        return tuple((tuple(t.shape), t.stride(), t.dtype, t.device) for t in _tensors(args))

    def capture(self, args):
        static = _static_copy(args)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.fn(*static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.fn(*static)
        return _tensors(static), graph, out

    def __call__(self, *args):
        key = self.signature(args)
        if key in self.failed:
            return self.fn(*args)
        addresses = self._weights()
        if addresses != self._addresses:
            self.graphs.clear()
            self._addresses = addresses
        if key not in self.graphs:
            try:
                self.graphs[key] = self.capture(args)
            except Exception as err:  # noqa: BLE001 - this shape runs eagerly; others keep their graphs
                warnings.warn(f"CUDA graph capture failed ({err.__class__.__name__}: {str(err)[:200]}); "
                              "running this input shape eagerly", stacklevel=3)
                self.failed.add(key)
                return self.fn(*args)
            while len(self.graphs) > self.max_graphs:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        inputs, graph, out = self.graphs[key]
        for buffer, value in zip(inputs, _tensors(args), strict=True):
            buffer.copy_(value)
        graph.replay()
        return _clone(out)


class FastModel(nn.Module):
    """The optimised model: input layout, autocast and the compiled/eager fallback around ``module``.

    ``module`` is the (folded, re-laid-out) model; ``self.fast_paths`` lists what was applied.
    """

    def __init__(self, module: nn.Module, *, channels_last: bool, autocast: torch.dtype | None, device: str):
        super().__init__()
        self.module = module
        self.channels_last = channels_last
        self.autocast = autocast
        self.device_type = device
        self.compiled = None
        self.graphs: CUDAGraphs | None = None
        self.fast_paths: list[str] = []
        if hasattr(module, "zoo_entry"):
            self.zoo_entry = module.zoo_entry
        for name in ("zoo_weights", "zoo_classes"):
            if hasattr(module, name):
                setattr(self, name, getattr(module, name))

    def _run(self, runner, args):
        if self.channels_last:
            args = _to_channels_last(args)
        # autocast's weight cache would hold tensors of a graph's private pool past its capture
        ctx = (torch.autocast(self.device_type, dtype=self.autocast, cache_enabled=self.graphs is None)
               if self.autocast is not None else contextlib.nullcontext())
        with ctx:
            out = runner(*args)
        return out.float() if self.autocast is not None and isinstance(out, torch.Tensor) else out

    def _eager(self, *args):
        return self._run(self.module, args)

    @torch.inference_mode()  # inference only, and one grad mode (else dynamo recompiles per mode)
    def forward(self, *args):
        if self.graphs is not None:
            try:
                return self.graphs(*args)
            except Exception as err:  # noqa: BLE001 - a capture that fails falls back to eager
                warnings.warn(f"CUDA graph capture failed ({err.__class__.__name__}: {str(err)[:200]}); running eager",
                              stacklevel=2)
                self.graphs = None
                self.fast_paths = [p for p in self.fast_paths if p != "cuda_graph"]
        if self.compiled is not None:
            try:
                return self._run(self.compiled, args)
            except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
                warnings.warn(f"torch.compile failed ({err.__class__.__name__}: {str(err)[:200]}); running eager", stacklevel=2)
                self.compiled = None
                self.fast_paths = [p for p in self.fast_paths if p != "compile"]
        return self._run(self.module, args)


def optimize(
    model: nn.Module,
    example=None,
    *,
    device: str | torch.device | None = None,
    dtype: str = "fp32",
    fold_bn: bool | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
    cuda_graph: bool | None = None,
    host_memory: bool | None = None,
    check: bool = True,
    atol: float = 1e-4,
) -> FastModel:
    """The inference fast paths for ``model`` (a zoo model with its weights loaded), in eval mode.

    ``example``: an input of the shape the model will see (default: the entry's test clip,
    batch 1, from :func:`example_input`); it finds the conv/BN pairs, checks the folded
    model and warms up the compiled one. ``device`` (default: where the model's weights
    are) picks the defaults in :data:`DEFAULTS` (on GPU, channels_last only in bf16/fp16 and for
    models without grouped convolutions); ``fold_bn``/``channels_last``/``compile``/
    ``cuda_graph`` override them (``cuda_graph`` needs a CUDA model and is left off by default
    for detection models, whose box count changes per call); ``host_memory`` (CPU default) keeps
    freed CPU memory for the next call, process-wide (:func:`zoo.host_memory.keep_freed_memory`). ``dtype`` (``fp32``, ``bf16``, ``fp16``) autocasts on GPU (and on CPU
    for ``bf16``). ``check`` compares the fp32 result with the plain model within ``atol``
    (times the output's largest magnitude when above 1) and restores any step that breaks it. ``model`` itself is changed (its batch norms are
    folded away): optimise a copy to keep the plain model.

    Example:
        >>> import torch, zoo
        >>> fast = zoo.optimize(zoo.create_model("i3d_tiny_8x4_demo"), compile=False, host_memory=False)
        >>> fast.fast_paths
        ['fold_bn']
    """
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(AUTOCAST_DTYPES)}, got {dtype!r}")
    model = model.eval()
    left, source = untrained(model), current_weights(model)  # before BN folding rewrites the weights they fingerprint
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device)
    defaults = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    fold_bn = defaults["fold_bn"] if fold_bn is None else fold_bn
    channels_last = defaults["channels_last"] if channels_last is None else channels_last
    if channels_last == "auto":
        channels_last = channels_last_pays(model, dtype)
    compile = defaults["compile"] if compile is None else compile
    if example is None:
        example = example_input(model, device=device)
    args = example if isinstance(example, tuple) else (example,)
    if cuda_graph is None:  # detectors take (clip, boxes), a different box count per keyframe
        cuda_graph = defaults["cuda_graph"] and not (isinstance(example, tuple) and len(example) > 1)
    cuda_graph = cuda_graph and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes during an evaluation: tune once
    host_memory = defaults["host_memory"] if host_memory is None else host_memory

    with torch.no_grad(), exact_fp32(device):
        reference = _call(model, example) if check else None
        applied: list[str] = []
        if fold_bn:
            state = {k: v.clone() for k, v in model.state_dict().items()}
            modules = dict(model.named_modules())
            pairs = conv_bn_pairs(model, example)
            for conv_name, bn_name in pairs:
                fold_conv_bn(modules[conv_name], modules[bn_name])
                _set_submodule(model, bn_name, nn.Identity())
            if check and pairs and _max_diff(_call(model, example), reference) > _tolerance(reference, atol):
                warnings.warn("folding batch norms changed the output; keeping them", stacklevel=2)
                for conv_name, bn_name in pairs:
                    _set_submodule(model, bn_name, modules[bn_name])
                    modules[conv_name].bias = None
                model.load_state_dict(state)
            elif pairs:
                applied.append("fold_bn")
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d) if _has_5d_weights(model) else model
            applied.append("channels_last")
        if host_memory and keep_freed_memory():
            applied.append("host_memory")
        autocast = AUTOCAST_DTYPES[dtype]
        if autocast is not None:
            applied.append(f"autocast_{dtype}")
        fast = FastModel(model, channels_last=channels_last, autocast=autocast, device=device.type)
        if source is not None:  # the record, fingerprinted again on the folded weights
            part = None if left is None else "module" + (f".{left[1]}" if left[1] else "")
            record_weights(fast, source, untrained=part, what=left[0] if left else None)
        fast.fast_paths = applied
        if compile:
            _inductor_cache_dir()
            try:
                from torch._inductor import config as inductor_config

                inductor_config.freezing = device.type == "cpu"
                fast.compiled = torch.compile(model, backend="inductor", dynamic=False)
                fast.fast_paths.append("compile")
                warm = fast(*args)  # compile now, with the example, so failures fall back here
            except Exception as err:  # noqa: BLE001
                warnings.warn(f"torch.compile unavailable ({err.__class__.__name__}: {str(err)[:200]}); running eager", stacklevel=2)
                fast.compiled = None
                fast.fast_paths = [p for p in fast.fast_paths if p != "compile"]
        if check and autocast is None and (channels_last or fast.compiled is not None):
            diff = _max_diff(warm if fast.compiled is not None else fast(*args), reference)
            if diff > _tolerance(reference, atol):
                warnings.warn(f"fast paths changed the output by {diff:.2g} > {atol:g}; using eager NCDHW", stacklevel=2)
                model = model.to(memory_format=torch.contiguous_format)
                fast.module, fast.compiled, fast.channels_last = model, None, False
                fast.fast_paths = [p for p in fast.fast_paths if p not in ("compile", "channels_last")]
    if cuda_graph and fast.compiled is None:  # a compiled model is not captured again
        # captured with the caller's precision settings (TF32 or not): the graph keeps its kernels
        fast.graphs = CUDAGraphs(fast._eager, watch=model)
        fast.fast_paths.append("cuda_graph")
        replayed = fast(*args)  # capture now, with the example, so failures fall back here
        if fast.graphs is not None and fast.graphs.failed:  # the shape this model will see: no graphs
            fast.graphs = None
            fast.fast_paths = [p for p in fast.fast_paths if p != "cuda_graph"]
        if check and fast.graphs is not None:
            with torch.inference_mode():
                eager = fast._eager(*args)
            diff = _max_diff(replayed, eager)
            if diff > _tolerance(eager, atol):
                warnings.warn(f"the CUDA graph's output differs from eager by {diff:.2g}; running eager", stacklevel=2)
                fast.graphs = None
                fast.fast_paths = [p for p in fast.fast_paths if p != "cuda_graph"]
    return fast.eval()


def channels_last_pays(model: nn.Module, dtype: str) -> bool:
    """The GPU default for channels_last, from ``results/gpu``: NDHWC paid only in reduced
    precision (bf16: 1.06-1.19x at batch 16; full fp32 ResNets: 0.82-0.89x of the reference),
    and never with grouped convolutions (X3D, CSN, MViT: 0.45-0.6x at batch 16).

    Example:
        >>> import zoo
        >>> channels_last_pays(zoo.create_model("slow_r50"), "bf16"), channels_last_pays(zoo.create_model("x3d_xs"), "bf16")
        (True, False)
    """
    return dtype != "fp32" and not _has_grouped_convs(model)


def _has_grouped_convs(model: nn.Module) -> bool:
    """Depthwise/grouped convolutions (X3D, CSN, MViT's pooling): cuDNN runs them slower in NDHWC."""
    return any(isinstance(m, _CONVS) and m.groups > 1 for m in model.modules())


@contextlib.contextmanager
def exact_fp32(device: torch.device | str):
    """Full-precision float32 on a GPU for the duration (TF32 off for cuDNN and matmuls).

    PyTorch lets cuDNN convolutions use TF32 by default, which changes fp32 results by about
    1e-3 of their scale depending on the algorithm and layout: the 1e-4 checks of
    :func:`optimize` compare arithmetic, so they run in exact fp32.
    """
    if torch.device(device).type != "cuda":
        yield
        return
    matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and conv is not None and hasattr(conv, "fp32_precision"):
        # torch >= 2.9: the precision API (reading the legacy flags after a caller set this one raises)
        saved = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision = conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = saved
        return
    saved = torch.backends.cudnn.allow_tf32, matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = saved


def _has_5d_weights(model: nn.Module) -> bool:
    return any(p.dim() == 5 for p in model.parameters())
