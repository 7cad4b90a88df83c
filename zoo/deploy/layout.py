"""A one-video clip kept as frames through the exported graph, for XNNPACK.

XNNPACK computes 2D operators in NHWC, and ExecuTorch's XNNPACK delegate gives every reshape
an NCHW input (``ChannelsLastTaggedReshapePass``), so each reshape between two convolutions
costs two transposes of the whole activation. The 2D rewrite (:mod:`zoo.deploy.rewrite`)
views 5-D clips as images with reshapes, so a video network paid several transposes per
convolution. This pass takes a clip of one video, ``(1, C, T, H, W)``, into the frames layout
``(T, C, H, W)`` once, where the graph first uses it, and keeps it there:

- a 3D convolution with temporal stride 1 is a 2D convolution of the frames per temporal tap,
  a tap reading a slice of whole frames (contiguous in either layout), the taps summed; a
  temporal kernel of 1 is one 2D convolution;
- 3D pools that pool no frames together are 2D pools; a mean over frames and positions is a
  2D mean, then a mean over frames;
- elementwise operators and concatenation act on frames as they did on the clip (a
  ``(1, C, 1, 1, 1)`` operand, a squeeze-excitation scale, broadcasts as ``(1, C, 1, 1)``).

Anything else gets its clip back where it needs it (one transpose), and the 2D rewrite then
takes what is left. Batches of more than one video are left to the 2D rewrite alone.

The per-frame form (``per_frame=True``, ``zoo export --layout per-frame``) holds the clip as
one ``(1, C, H, W)`` tensor per frame instead, where its frames are large
(:data:`PER_FRAME_MIN_POSITIONS`): a temporal tap's frames are then the graph's wiring, not
slices and zero pads (:class:`PerFrameConv`), at the price of T times as many, smaller,
operators; where the frames get small (after the strides), the operators' own cost outweighs
the copies', and the frames go back to one batch (one concatenation of the last large frames,
before the first operator whose output frames are small).

Example:
    >>> import torch
    >>> from zoo.deploy.layout import frames_layout
    >>> net = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv3d(4, 4, 1))
    >>> x = torch.randn(1, 3, 4, 8, 8)
    >>> program = frames_layout(torch.export.export(net.eval(), (x,)), (x,))
    >>> sorted({str(n.target) for n in program.graph.nodes if n.op == "call_function" and "conv" in str(n.target)})
    ['aten.conv2d.default']
    >>> bool((program.module()(x) - net(x)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import operator

import torch
from torch import nn
from torch.nn import functional as F

from zoo.deploy.rewrite import CONV3D_ARGS, as_triple, check_outputs, module_attribute, tap_convs

#: The layouts of :func:`frames_layout` (``zoo export --layout``): one batch of frames
#: (``frames_layout``'s default), or one tensor per frame where the frames are large
#: (``zoo export``'s default for fp32 ExecuTorch files: :func:`default_layout`).
LAYOUTS = ("frames", "per-frame")

#: In the per-frame layout, frames of fewer positions (H x W) than this are one batch. X3D-XS
#: (182 x 182 crop: 91, 46, 23, 12 and 6 positions a side) at 1 / 2 threads, the files and
#: ``zoo.optimize`` (30.5 / 23.3 ms) timed alone, together (an Intel Xeon): every frame apart
#: 27.8 / 18.7 ms; from 100 positions (the last stage batched) 25.9 / 17.7; from 200 (the last
#: two) 25.9 / 17.5 and a file exported in 31 s instead of 48; from 600 (the last three) 27.3 /
#: 18.4; one batch throughout (the frames layout) 33.0 / 23.5.
PER_FRAME_MIN_POSITIONS = 200


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """``(1, C, T, H, W)`` -> ``(T, C, H, W)``: the clip's frames as a batch of images."""
    return x.reshape(x.shape[1:]).permute(1, 0, 2, 3)


def to_clip(y: torch.Tensor) -> torch.Tensor:
    """``(T, C, H, W)`` -> ``(1, C, T, H, W)``."""
    return y.permute(1, 0, 2, 3).reshape(1, y.shape[1], y.shape[0], y.shape[2], y.shape[3])


class FramesConv(nn.Module):
    """A 3D convolution (temporal stride 1) of a clip in the frames layout ``(T, C, H, W)``.

    Tap ``k`` is a 2D convolution of the frames it reaches: output frame ``t`` reads input
    frame ``t + k*dilation - padding``, so a tap computes only the output frames whose input
    frame exists, reading a slice of whole frames (none for a tap that reaches every frame:
    the centre tap of a padded kernel), and its output is completed with zero frames by a
    constant pad of the frames dimension (XNNPACK's ``Constant Pad``, in fp32 and int8). No
    padded copy of the clip is made, and the bias goes to a tap that reaches every frame.

    The zero frames were once constant tensors concatenated to the tap's output; XNNPACK then
    transposed each of them to NHWC at every call (28 transposes per call in efficient X3D-XS,
    56 in int8), which the pad does not need: efficient X3D-XS on this CPU at 1 thread, the
    delegate's time 18.0 -> 16.9 ms in fp32 and 10.3 -> 9.4 ms in int8, the files 18.5 -> 15.3 MB
    and 9.3 -> 4.3 MB. Only a convolution no tap of which reaches a frame keeps a constant: its
    all-zero output.
    """

    def __init__(self, taps: list[nn.Conv2d], bias: torch.Tensor | None, padding_t: int, dilation_t: int,
                 frames: int, out_shape: tuple[int, int, int, int]):
        super().__init__()
        out_frames = out_shape[0]
        self.ranges = []  # per tap: (first, end) output frames it reaches, and its input offset
        kept = []
        for k, conv in enumerate(taps):
            offset = k * dilation_t - padding_t
            first, end = max(0, -offset), min(out_frames, frames - offset)
            if end > first:  # a tap that reaches no frame (all padding) adds nothing
                self.ranges.append((first, end, offset))
                kept.append(conv)
        self.taps = nn.ModuleList(kept)
        self.out_frames = out_frames
        full = [i for i, (first, end, _) in enumerate(self.ranges) if (first, end) == (0, out_frames)]
        extra_bias = None
        if bias is not None and full:
            self.taps[full[0]].bias = nn.Parameter(bias.detach().clone())
        elif bias is not None:
            extra_bias = bias.detach().reshape(1, -1, 1, 1).clone()
        self.register_buffer("extra_bias", extra_bias, persistent=False)
        # no tap reaching a frame: the output is a constant of the graph (XNNPACK makes no zeros)
        zeros = None if self.ranges else torch.zeros(out_frames, *out_shape[1:])
        self.register_buffer("zeros", zeros, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for conv, (first, end, offset) in zip(self.taps, self.ranges):
            source = x if (first + offset, end + offset) == (0, x.shape[0]) else x[first + offset: end + offset]
            y = conv(source)
            if first or end < self.out_frames:  # zero frames before and after, along dim 0 (frames)
                y = F.pad(y, (0, 0, 0, 0, 0, 0, first, self.out_frames - end))
            out = y if out is None else out + y
        if out is None:
            out = self.zeros
        return out if self.extra_bias is None else out + self.extra_bias


class PerFrameConv(FramesConv):
    """:class:`FramesConv` of a clip held as one ``(1, C, H, W)`` tensor per frame: output frame
    ``t`` is the sum of the taps that reach it, each a 2D convolution of one input frame.

    No tap's frames are sliced out or padded: which frame a tap reads is the graph's wiring.
    In the frames layout the slices and pads took 5.1 of X3D-XS's 29.9 ms of XNNPACK operator
    time (fp32, an Intel Xeon, profiled 2026-12-04); per frame its operators take 21.4 ms
    (``results/deploy_ops.md``). Timed by ``zoo speed`` (``results/deploy.md``, 2026-12-05, the
    same machine, random weights, 1 / 2 threads, median ms), per frame, one batch, and
    ``zoo.optimize``: X3D-XS 28.7 / 18.3, 33.4 / 21.3, 30.4 / 22.0; efficient X3D-XS 27.5 / 18.3,
    32.0 / 21.9, 29.8 / 22.4. X3D-S (13 frames, the three timed alone): 101.7 / 58.3, 127.3 /
    75.4, 79.2 / 47.6, where ``zoo.optimize`` stays ahead.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv3d(2, 3, 3, padding=1).eval()
        >>> x = torch.randn(1, 2, 4, 5, 5)
        >>> from zoo.deploy.rewrite import tap_convs
        >>> frames = PerFrameConv(tap_convs(conv.weight, None, (1, 1, 1), (1, 1, 1), (1, 1, 1), 1), conv.bias.detach(),
        ...                       1, 1, 4, (4, 3, 5, 5))(*x.unbind(2))
        >>> bool((torch.stack(frames, 2) - conv(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, taps: list[nn.Conv2d], bias: torch.Tensor | None, padding_t: int, dilation_t: int,
                 frames: int, out_shape: tuple[int, int, int, int]):
        super().__init__(taps, bias, padding_t, dilation_t, frames, out_shape)
        # an output frame no tap reaches (padding wider than the kernel's reach) is a constant
        reached = {t for first, end, _ in self.ranges for t in range(first, end)}
        zero = torch.zeros(1, *out_shape[1:]) if len(reached) < self.out_frames else None
        self.register_buffer("zero_frame", zero, persistent=False)

    def forward(self, *frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = []
        for t in range(self.out_frames):
            y = None
            for conv, (first, end, offset) in zip(self.taps, self.ranges):
                if first <= t < end:
                    term = conv(frames[t + offset])
                    y = term if y is None else y + term
            if y is None:
                y = self.zero_frame
            out.append(y if self.extra_bias is None else y + self.extra_bias)
        return tuple(out)


def frames_mean(y: torch.Tensor, dims: set[int], keepdim: bool, channels: int, frames: int) -> torch.Tensor:
    """``clip.mean(dims)`` of a clip in the frames layout: positions by a 2D mean; frames by a
    2D mean of the ``(1, C, T, 1)`` permutation (XNNPACK takes means of the last two dims only)."""
    y = y.mean((2, 3), keepdim=True)  # (T, C, 1, 1)
    if dims == {3, 4}:
        return y if keepdim else to_clip(y).reshape(1, channels, frames)
    y = y.permute(2, 1, 0, 3).mean((2, 3), keepdim=True)  # (1, C, 1, 1)
    return y if keepdim else y.reshape(1, channels)


UNARY_OPS = {"aten.relu.default", "aten.relu_.default", "aten.silu.default", "aten.silu_.default",
             "aten.sigmoid.default", "aten.sigmoid_.default", "aten.hardswish.default", "aten.hardswish_.default",
             "aten.hardtanh.default", "aten.hardtanh_.default", "aten.gelu.default", "aten.tanh.default",
             "aten.clamp.default", "aten.dropout.default", "aten.clone.default"}
BINARY_OPS = {"aten.add.Tensor", "aten.add_.Tensor", "aten.mul.Tensor", "aten.mul_.Tensor", "aten.sub.Tensor",
              "aten.sub_.Tensor", "aten.div.Tensor", "aten.div_.Tensor"}


def _clip_shape(node) -> tuple[int, ...] | None:
    """The shape of a one-video 5-D tensor node, else None."""
    value = getattr(node, "meta", {}).get("val") if isinstance(node, torch.fx.Node) else None
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != 5 or shape[0] != 1 or not all(isinstance(d, int) for d in shape):
        return None
    return tuple(shape)


class _FrameList(tuple):
    """A clip held as one ``(1, C, H, W)`` node per frame (the per-frame form); a clip of one
    frame broadcast along frames (``(1, C, 1, 1, 1)`` scales) is a list of one."""


def _select_frame(x: torch.Tensor, t: int) -> torch.Tensor:
    """Frame ``t`` of a ``(1, C, T, H, W)`` clip, as ``(1, C, H, W)``."""
    return x[:, :, t]


def _stack_frames(frames: list[torch.Tensor]) -> torch.Tensor:
    """``(1, C, H, W)`` frames -> the ``(1, C, T, H, W)`` clip."""
    return torch.stack(list(frames), 2)


def _sum_frames(frames: list[torch.Tensor], scale: float) -> torch.Tensor:
    """``scale`` times the sum of ``frames``."""
    return sum(frames[1:], frames[0]) * scale


def _at(arg, t: int):
    """``arg`` with every :class:`_FrameList` in it replaced by its frame ``t`` (a list of one: its
    frame). Lists and tuples are searched, not dicts: ATen takes tensors as positional arguments."""
    if isinstance(arg, _FrameList):
        return arg[0] if len(arg) == 1 else arg[t]
    if isinstance(arg, (list, tuple)):
        return type(arg)(_at(a, t) for a in arg)
    return arg


class _Pass:
    def __init__(self, module: torch.fx.GraphModule, per_frame: bool = False):
        self.module, self.graph = module, module.graph
        # frames of at least this many positions are held one tensor per frame (None: none are)
        self.min_positions = PER_FRAME_MIN_POSITIONS if per_frame else None
        # a clip node -> the same tensor as one (T, C, H, W) node, and as a _FrameList
        self.batched: dict[torch.fx.Node, torch.fx.Node] = {}
        self.listed: dict[torch.fx.Node, _FrameList] = {}
        self.translated = 0

    def listed_for(self, shape: tuple[int, ...]) -> bool:
        """Whether an operator whose clip result has ``shape`` runs per frame."""
        return self.min_positions is not None and shape[3] * shape[4] >= self.min_positions

    def frames_of(self, node: torch.fx.Node, listed: bool, before: torch.fx.Node) -> torch.fx.Node | _FrameList:
        """``node`` (a clip) as frames: one (T, C, H, W) node, or (``listed``) a _FrameList; a
        change of form is made just ``before`` the node that needs it."""
        if listed:
            if node not in self.listed:
                if node in self.batched:  # one frame is the same tensor in both forms; more are split
                    frames = self.batched[node]
                    count = _clip_shape(node)[2]
                    with self.graph.inserting_before(before):
                        self.listed[node] = _FrameList([frames] if count == 1 else
                                                      [self.graph.call_function(operator.getitem, (frames, slice(t, t + 1)))
                                                       for t in range(count)])
                else:
                    selected, last = [], node
                    for t in range(_clip_shape(node)[2]):
                        with self.graph.inserting_after(last):
                            last = self.graph.call_function(_select_frame, (node, t))
                        selected.append(last)
                    self.listed[node] = _FrameList(selected)
            return self.listed[node]
        if node not in self.batched:
            if node in self.listed:  # frames after frames: one copy, where the frames get small
                frames = self.listed[node]
                with self.graph.inserting_before(before):
                    self.batched[node] = frames[0] if len(frames) == 1 else self.graph.call_function(torch.cat, (list(frames),))
            else:
                with self.graph.inserting_after(node):
                    self.batched[node] = self.graph.call_function(to_frames, (node,))
        return self.batched[node]

    def replace(self, node: torch.fx.Node, new: torch.fx.Node | _FrameList, clip_result: bool = True) -> None:
        """``node``'s users take ``new`` (frames) through ``to_clip`` (or ``_stack_frames``), which later
        translated users skip; ``clip_result`` False: ``new`` is not a clip's frames, and they take it as it is."""
        assert clip_result or not isinstance(new, _FrameList), "frames per frame are a clip's: they go back through a stack"
        if clip_result:
            if isinstance(new, _FrameList):
                with self.graph.inserting_before(node):
                    back = self.graph.call_function(_stack_frames, (list(new),))
                self.listed[back] = new
            else:
                with self.graph.inserting_after(new):
                    back = self.graph.call_function(to_clip, (new,))
                self.batched[back] = new
            back.meta["val"] = node.meta.get("val")  # the clip's shape, which later translations read
            new = back
        node.replace_all_uses_with(new)
        self.graph.erase_node(node)
        self.translated += 1

    def call(self, node, function, args, kwargs=None, clip_result=True):
        """``function`` on the frames: once on (T, C, H, W) nodes, or once per frame where ``args``
        hold _FrameLists."""
        kwargs = kwargs or {}
        lists = _frame_lists(args)
        # an in-place operator would write into frames other values share (a concatenation along
        # frames joins the lists as they are; a change of form copies): its out-of-place form
        # instead, whose result is what the exported graph reads after it (an operand read
        # elsewhere too is left in the clip: _Pass.elementwise)
        function = _out_of_place(function)
        with self.graph.inserting_before(node):
            if lists:
                count = max(len(a) for a in lists)
                new = _FrameList(self.graph.call_function(function, _at(tuple(args), t), _at(kwargs, t))
                                 for t in range(count))
            else:
                new = self.graph.call_function(function, tuple(args), kwargs)
        self.replace(node, new, clip_result)

    def conv3d(self, node) -> None:
        args = dict(zip(CONV3D_ARGS, node.args)) | dict(node.kwargs)
        shape = _clip_shape(args["input"])
        padding = args.get("padding", 0)
        computed = [t for t in (args["weight"], args.get("bias")) if t is not None and getattr(t, "op", None) != "get_attr"]
        if shape is None or isinstance(padding, str) or computed:
            return  # a weight computed in the graph: the 2D rewrite says so
        stride, padding, dilation = as_triple(args.get("stride"), 1), as_triple(padding, 0), as_triple(args.get("dilation"), 1)
        if stride[0] != 1:
            return  # strided taps would be strided slices, which XNNPACK does not take: the 2D rewrite does these
        bias = args.get("bias")
        out_shape = _clip_shape(node)
        if out_shape is None:
            return
        listed = self.listed_for(out_shape)
        taps = tap_convs(module_attribute(self.module, args["weight"].target).detach(), None,
                         stride, padding, dilation, args.get("groups", 1) or 1)
        replacement = (PerFrameConv if listed else FramesConv)(
            taps, None if bias is None else module_attribute(self.module, bias.target).detach(),
            padding[0], dilation[0], shape[2], (out_shape[2], out_shape[1], out_shape[3], out_shape[4]))
        name = f"frames_conv_{self.translated}"
        self.module.add_submodule(name, replacement)
        source = self.frames_of(args["input"], listed, node)
        with self.graph.inserting_before(node):
            if listed:
                frames = self.graph.call_module(name, tuple(source))
                new = _FrameList(self.graph.call_function(operator.getitem, (frames, t)) for t in range(out_shape[2]))
            else:
                new = self.graph.call_module(name, (source,))
        self.replace(node, new)

    def pool(self, node, name: str) -> None:
        x, kernel, *rest = node.args
        out_shape = _clip_shape(node)
        if _clip_shape(x) is None or out_shape is None or node.kwargs:
            return
        kernel = as_triple(kernel, 1)
        stride = as_triple(rest[0], 0) if rest and rest[0] not in ((), [], None) else kernel
        padding = as_triple(rest[1], 0) if len(rest) > 1 else (0, 0, 0)
        if (kernel[0], stride[0], padding[0]) != (1, 1, 0):
            return  # windows over frames: the 2D rewrite does these
        frames = self.frames_of(x, self.listed_for(out_shape), node)
        if name == "aten.max_pool3d.default":
            dilation = as_triple(rest[2], 1) if len(rest) > 2 else (1, 1, 1)
            ceil = rest[3] if len(rest) > 3 else False
            if dilation[0] != 1:
                return
            self.call(node, F.max_pool2d, [frames, kernel[1:], stride[1:], padding[1:], dilation[1:], ceil])
        else:
            ceil = rest[2] if len(rest) > 2 else False
            include = rest[3] if len(rest) > 3 else True
            divisor = rest[4] if len(rest) > 4 else None
            self.call(node, F.avg_pool2d, [frames, kernel[1:], stride[1:], padding[1:], ceil, include, divisor])

    def mean(self, node) -> None:
        x, dim, *rest = node.args
        shape = _clip_shape(x)
        keepdim = rest[0] if rest else node.kwargs.get("keepdim", False)
        if shape is None or dim is None or node.kwargs.get("dtype") is not None:
            return
        dims = {d % 5 for d in ([dim] if isinstance(dim, int) else dim)}
        if dims not in ({2, 3, 4}, {3, 4}):
            return
        # a clip held per frame (a mean over all of it): a mean per frame, then over the frames
        if x not in self.listed or dims != {2, 3, 4}:
            self.call(node, frames_mean, [self.frames_of(x, False, node), dims, keepdim, shape[1], shape[2]],
                      clip_result=keepdim)
            return
        with self.graph.inserting_before(node):
            means = [self.graph.call_function(torch.mean, (f, (2, 3)), {"keepdim": True}) for f in self.listed[x]]
            new = self.graph.call_function(_sum_frames, (means, 1.0 / len(means)))  # (1, C, 1, 1)
            if not keepdim:
                new = self.graph.call_function(torch.reshape, (new, (1, shape[1])))
        self.replace(node, _FrameList([new]) if keepdim else new, clip_result=keepdim)

    def elementwise(self, node) -> None:
        shape = _clip_shape(node)
        if shape is None:
            return
        if node.kwargs.get("memory_format") not in (None, torch.contiguous_format, torch.preserve_format):
            return  # a clone into a 5-D memory format (channels_last_3d) means nothing for frames
        if any(isinstance(arg, torch.fx.Node) and _clip_shape(arg) is None for arg in node.args):
            return  # another rank broadcasting into the clip: left as it is
        written = node.args[0] if _is_in_place(node.target) else None
        if isinstance(written, torch.fx.Node) and len(written.users) > 1:
            # other readers of the operand may see the write through a view of it (a frame taken
            # from the clip): left in the clip, where it writes as the model does
            return
        listed = self.listed_for(shape)
        args = [self.frames_of(arg, listed, node) if isinstance(arg, torch.fx.Node) else arg for arg in node.args]
        self.call(node, node.target, args, dict(node.kwargs))

    def cat(self, node) -> None:
        tensors, *rest = node.args
        dim = (rest[0] if rest else node.kwargs.get("dim", 0)) % 5
        shape = _clip_shape(node)
        if dim not in (1, 2) or shape is None or not all(_clip_shape(t) is not None for t in tensors):
            return
        listed = self.listed_for(shape)
        parts = [self.frames_of(t, listed, node) for t in tensors]
        if listed and dim == 2:  # frames after frames: the lists joined, nothing copied
            self.replace(node, _FrameList(f for part in parts for f in part))
            return
        self.call(node, torch.cat, [parts, 1 if dim == 1 else 0])

    def run(self) -> int:
        for node in list(self.graph.nodes):
            if node.op != "call_function":
                continue
            name = str(node.target)
            if name == "aten.conv3d.default":
                self.conv3d(node)
            elif name in ("aten.max_pool3d.default", "aten.avg_pool3d.default"):
                self.pool(node, name)
            elif name == "aten.mean.dim":
                self.mean(node)
            elif name in UNARY_OPS or name in BINARY_OPS:
                self.elementwise(node)
            elif name == "aten.cat.default":
                self.cat(node)
        self.graph.eliminate_dead_code()
        self.graph.lint()
        self.module.recompile()
        return self.translated


def _is_in_place(function) -> bool:
    """Whether ``function`` is an ATen operator that writes into its input."""
    schema = getattr(function, "_schema", None)
    return schema is not None and schema.is_mutable and schema.name.startswith("aten::")


def _out_of_place(function):
    """An in-place ATen operator's out-of-place overload (``aten.add_.Tensor`` -> ``aten.add.Tensor``); others as they are."""
    if not _is_in_place(function):
        return function
    return getattr(getattr(torch.ops.aten, function._schema.name.split("::")[1].rstrip("_")), function._overloadname)


def _frame_lists(arg) -> list[_FrameList]:
    """The :class:`_FrameList` values in ``arg`` (nested in lists and tuples)."""
    if isinstance(arg, _FrameList):
        return [arg]
    if isinstance(arg, (list, tuple)):
        return [found for a in arg for found in _frame_lists(a)]
    return []


def frames_layout(program: torch.export.ExportedProgram, example: tuple, *, per_frame: bool = False,
                  check: bool = True, atol: float = 1e-4) -> torch.export.ExportedProgram:
    """``program`` with its one-video clips in the frames layout (see the module docstring);
    ``per_frame``: held as one tensor per frame instead where its frames are large
    (:data:`PER_FRAME_MIN_POSITIONS`; :class:`PerFrameConv`).

    The new graph's output is checked on ``example`` against the original's (max difference
    within ``atol`` of the output's scale) and exported again; a program with no one-video
    clip comes back as it was.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
        >>> x = torch.randn(1, 3, 4, 16, 16)  # 256 positions a frame: per frame
        >>> program = frames_layout(torch.export.export(net, (x,)), (x,), per_frame=True)
        >>> convs = [n for n in program.graph.nodes if str(n.target) == "aten.conv2d.default"]
        >>> len(convs), {tuple(n.meta["val"].shape) for n in convs}  # 3 taps x 4 frames, less the 2 edge frames' missing taps
        (10, {(1, 4, 16, 16)})
        >>> bool((program.module()(x) - net(x)).abs().max() < 1e-5)
        True
    """
    module = program.module()
    if not _Pass(module, per_frame).run():
        return program
    if check:
        check_outputs(program, module, example, atol)
    return torch.export.export(module, example)


#: The most frames a clip may have for :func:`default_layout` to hold it per frame: the
#: per-frame graph's operators, and its export time, grow with the frames (on 2 CPUs: X3D-XS,
#: 4 frames, 31 s against 25 s in frames; I3D-R50, 8 frames, 25 s against 13 s; X3D-S, 13
#: frames, 64 s against 25 s); clips of more frames (SlowFast's fast pathway, CSN, Swin: 32)
#: were not measured.
PER_FRAME_MAX_FRAMES = 16


def default_layout(program: torch.export.ExportedProgram, format: str, int8: bool) -> str:  # noqa: A002
    """The layout :func:`zoo.export` gives ``program`` by default: ``"per-frame"`` for an fp32
    ExecuTorch file whose clips have at most :data:`PER_FRAME_MAX_FRAMES` frames, else ``"frames"``.

    Per frame was the faster fp32 file for every entry measured, at 1 and 2 threads
    (:class:`PerFrameConv`; I3D-R50: 639 / 337 ms against 691 / 372), but for the 32 x 32 demo
    model, whose frames are tiny (0.88 against 0.81 ms). Not for int8: XNNPACK refused a
    depthwise convolution of X3D-XS's per-frame int8 file when loading it
    (``xnn_status_invalid_parameter``), and in int8 the slices and pads the per-frame form saves
    cost little (0.8 of X3D-XS's 16.6 ms of int8 operators, ``results/deploy_ops.md``). Not for ONNX Runtime, whose 2D
    rewrite is not the default (``--rewrite-2d``).

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        >>> program = torch.export.export(conv, (torch.randn(1, 3, 4, 8, 8),))
        >>> default_layout(program, "executorch", int8=False), default_layout(program, "onnx", int8=False)
        ('per-frame', 'frames')
    """
    frames = max((shape[2] for node in program.graph.nodes if (shape := _clip_shape(node)) is not None), default=0)
    return "per-frame" if format == "executorch" and not int8 and 0 < frames <= PER_FRAME_MAX_FRAMES else "frames"
