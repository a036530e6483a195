"""Run a shipped classifier ``.onnx`` as a frozen PyTorch module, so a lite model can be distilled from a model whose
training checkpoint is gone (``--teacher ../models/ferkit-resnet-s.onnx``).

Only the operators ferkit's CNNs export to are supported (Conv with BatchNorm folded in, Relu, Add,
GlobalAveragePool, Flatten, Gemm, QuantizeLinear/DequantizeLinear of int8 QDQ graphs, plus a few simple ones); anything else raises ``NotImplementedError`` naming
the operator. The graph is evaluated node by node with ``torch.nn.functional`` in float32, which matches ONNX Runtime
within float rounding (test/training/smoke.test.ts checks it against the exported logits of the default model).
"""
from __future__ import annotations

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(nn.Module):
    """A frozen ONNX graph: input ``[N, 1, 48, 48]`` NCHW float32, output the graph's first output (logits)."""

    def __init__(self, path: str | onnx.ModelProto):
        super().__init__()
        model = path if isinstance(path, onnx.ModelProto) else onnx.load(path)
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in model.graph.node]
        self.weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name
        for op, *_ in self.nodes:
            if op not in _OPS:
                raise NotImplementedError(f"{path if isinstance(path, str) else model.graph.name}: ONNX operator {op} is not supported by OnnxModule")

    @torch.no_grad()
    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every tensor the graph computes for ``x`` (the input and each node's output, by name), weights left out."""
        env = {**self.weights, self.input_name: x.contiguous()}
        for op, ins, outs, attrs in self.nodes:
            env[outs[0]] = _OPS[op]([env[i] if i else None for i in ins], attrs)
        return {k: v for k, v in env.items() if k not in self.weights}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)[self.output_name]


def _conv(t, a):
    pads = a.get("pads", [0, 0, 0, 0])
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise NotImplementedError("asymmetric Conv padding")
    return F.conv2d(t[0], t[1], t[2] if len(t) > 2 else None, stride=a.get("strides", [1, 1]),
                    padding=pads[:2], dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))


def _gemm(t, a):
    w = t[1].t() if a.get("transB", 0) else t[1]
    y = a.get("alpha", 1.0) * (t[0].t() if a.get("transA", 0) else t[0]) @ w
    return y + a.get("beta", 1.0) * t[2] if len(t) > 2 and t[2] is not None else y


def _quantize(t, a):
    """QuantizeLinear (per tensor): round half to even, saturate to the zero point's type."""
    lo, hi = (0, 255) if t[2].dtype == torch.uint8 else (-128, 127)
    return torch.clamp(torch.round(t[0] / t[1].float()) + t[2].float(), lo, hi)


def _dequantize(t, a):
    """DequantizeLinear, per tensor or per channel along ``axis`` (default 1)."""
    x, s, z = t[0].float(), t[1].float(), t[2].float()
    if s.dim() == 1 and s.numel() > 1:
        shape = [1] * x.dim()
        shape[a.get("axis", 1)] = -1
        s, z = s.view(shape), z.view(shape)
    return (x - z) * s


_OPS = {
    "Conv": _conv,
    "Relu": lambda t, a: F.relu(t[0]),
    "Add": lambda t, a: t[0] + t[1],
    "Mul": lambda t, a: t[0] * t[1],
    "Sigmoid": lambda t, a: torch.sigmoid(t[0]),
    "GlobalAveragePool": lambda t, a: t[0].mean((2, 3), keepdim=True),
    "Flatten": lambda t, a: t[0].flatten(a.get("axis", 1)),
    "Gemm": _gemm,
    "QuantizeLinear": _quantize,  # int8 QDQ graphs (ferkit_train.quantize), simulated in float
    "DequantizeLinear": _dequantize,
    "MaxPool": lambda t, a: F.max_pool2d(t[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), a.get("pads", [0, 0])[:2]),
}
