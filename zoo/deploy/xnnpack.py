"""ExecuTorch's XNNPACK delegate for the zoo's graphs: int8 Swish and pads, and the partitioner that runs them.

Out of the box, an int8 program for ExecuTorch leaves every Swish in float: the XNNPACK
quantizer has no rule for ``silu`` or ``sigmoid``, and the delegate's partitioner takes
``sigmoid`` in fp32 only, though XNNPACK itself has an int8 sigmoid (output scale 1/256, zero
point -128, the only output range it accepts). Each Swish of X3D (26 in efficient X3D-XS, and 15
squeeze-excitation gates) was then a dequantize, a float sigmoid and multiply, and a quantize.
Here:

- :func:`silu_as_sigmoid_mul` writes ``silu(x)`` as ``x * sigmoid(x)`` before quantization, so
  that the multiply takes the quantizer's int8 rule for ``mul``;
- :class:`Int8SigmoidQuantizer` is the XNNPACK quantizer plus two rules: a sigmoid's input shares
  its producer's scale, and its output has XNNPACK's fixed int8 range; a constant pad's input and
  output share its producer's scale (a zero pads with the zero point: exactly 0.0);
- :func:`partitioner` lets the delegate take such a sigmoid and pad (their float ones as before),
  and leaves operators on tensors of more than XNNPACK's 6 dimensions to ExecuTorch's portable
  kernels (:func:`within_xnnpack_rank`): the stock partitioner delegated Video Swin's 8-D window
  partition and MViTv2's 7-D einsum products, and the file failed when loaded.

The pads are those that complete a temporal tap's output with zero frames
(:class:`zoo.deploy.layout.FramesConv`): out of the box, too, the quantizer has no rule for
``pad`` and the partitioner takes it in fp32 only, a dequantize and a quantize around each.

On efficient X3D-XS (the AMD EPYC VM, 1 thread) the int8 program went from 12.2 to 11.2 ms (12.7 to
12.0 in a second run), its outputs as close to the eager model's as before (max |diff| 1.6e-3). Imported only when an ExecuTorch file is written
(``executorch`` is the optional extra ``videozoo[deploy]``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from zoo.deploy.xnnpack import silu_as_sigmoid_mul
    >>> program = torch.export.export(nn.Sequential(nn.Conv2d(3, 4, 1), nn.SiLU()), (torch.rand(1, 3, 4, 4),))
    >>> graph = silu_as_sigmoid_mul(program.module())
    >>> [str(n.target) for n in graph.graph.nodes if n.op == "call_function"]
    ['aten.conv2d.default', 'aten.sigmoid.default', 'aten.mul.Tensor']
"""

from __future__ import annotations

import torch
from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
from executorch.backends.xnnpack.partition.config.generic_node_configs import ConstantPadConfig, SigmoidConfig
from executorch.backends.xnnpack.partition.config.xnnpack_config import ConfigPrecisionType
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
from torchao.quantization.pt2e.quantizer import (FixedQParamsQuantizationSpec, QuantizationAnnotation,
                                                 SharedQuantizationSpec)

#: XNNPACK's int8 sigmoid output: [0, 1) in 256 steps (the one range its kernel accepts).
SIGMOID_OUTPUT = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=1.0 / 256, zero_point=-128, quant_min=-128,
                                              quant_max=127, qscheme=torch.per_tensor_affine)


def silu_as_sigmoid_mul(graph_module: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Every ``aten.silu`` of an exported graph as ``x * sigmoid(x)`` (in place; returned)."""
    graph = graph_module.graph
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target != torch.ops.aten.silu.default:
            continue
        x = node.args[0]
        with graph.inserting_after(node):
            gate = graph.call_function(torch.ops.aten.sigmoid.default, (x,))
        with graph.inserting_after(gate):
            product = graph.call_function(torch.ops.aten.mul.Tensor, (x, gate))
        for made in (gate, product):  # the quantizer reads shapes (and the partitioner dtypes) from here
            made.meta["val"] = node.meta["val"]
        node.replace_all_uses_with(product)
        graph.erase_node(node)
    graph.lint()
    graph_module.recompile()
    return graph_module


#: The pads the exported graph holds (``F.pad`` before and after decomposition).
PADS = (torch.ops.aten.pad.default, torch.ops.aten.constant_pad_nd.default)


class Int8SigmoidQuantizer(XNNPACKQuantizer):
    """The XNNPACK quantizer (global: symmetric, per-channel weights), with int8 sigmoids and
    constant pads (a pad's input and output share its producer's scale)."""

    def __init__(self):
        super().__init__()
        self.set_global(get_symmetric_quantization_config(is_per_channel=True))

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        model = super().annotate(model)
        for node in model.graph.nodes:
            if node.op != "call_function" or "quantization_annotation" in node.meta:
                continue
            source = node.args[0] if node.args else None
            if node.target == torch.ops.aten.sigmoid.default:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={source: SharedQuantizationSpec(source)}, output_qspec=SIGMOID_OUTPUT,
                    _annotated=True)
            elif node.target in PADS and isinstance(source, torch.fx.Node):
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={source: SharedQuantizationSpec(source)}, output_qspec=SharedQuantizationSpec(source),
                    _annotated=True)
        return model


class Int8SigmoidConfig(SigmoidConfig):
    """The delegate's sigmoid rule, taking int8 sigmoids too."""

    def supported_precision_types(self) -> list:
        return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]


class Int8ConstantPadConfig(ConstantPadConfig):
    """The delegate's constant pad rule, taking int8 pads too."""

    def supported_precision_types(self) -> list:
        return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]


#: XNNPACK's tensors have at most 6 dimensions (``XNN_MAX_TENSOR_DIMS``). The delegate's
#: partitioner does not check it: a graph with more lowered, then failed when loaded ("Failed to
#: define tensor ... xnn_status_unsupported_parameter"): Video Swin's window partition is an 8-D
#: view and permute, MViTv2's relative-position einsum decomposes into 7-D products.
XNNPACK_MAX_DIMS = 6


def within_xnnpack_rank(node: torch.fx.Node) -> bool:
    """Do ``node``'s output and tensor inputs have at most :data:`XNNPACK_MAX_DIMS` dimensions?"""
    values = [node.meta.get("val")] + [n.meta.get("val") for n in node.all_input_nodes]
    tensors = [t for v in values for t in (v if isinstance(v, (list, tuple)) else [v]) if isinstance(t, torch.Tensor)]
    return all(t.dim() <= XNNPACK_MAX_DIMS for t in tensors)


def _within_rank(config: type) -> type:
    """``config`` (a delegate rule) that leaves operators on tensors of more than 6 dimensions to
    ExecuTorch's portable kernels, which take up to 16."""

    class WithinRank(config):
        def check_constraints(self, node: torch.fx.Node, ep) -> bool:
            return within_xnnpack_rank(node) and super().check_constraints(node, ep)

    WithinRank.__name__ = WithinRank.__qualname__ = config.__name__
    return WithinRank


def partitioner() -> XnnpackPartitioner:
    """ExecuTorch's XNNPACK partitioner with :class:`Int8SigmoidConfig` and :class:`Int8ConstantPadConfig`
    for its sigmoid and pad rules, every rule taking only operators within XNNPACK's 6 dimensions
    (:func:`within_xnnpack_rank`)."""
    ours = {SigmoidConfig: Int8SigmoidConfig, ConstantPadConfig: Int8ConstantPadConfig}
    return XnnpackPartitioner(configs=[_within_rank(ours.get(c, c)) for c in ALL_PARTITIONER_CONFIGS])
