"""Start training from a shipped classifier ``.onnx`` (``--init ../models/ferkit-resnet-s.onnx``) when its ``best.pt`` is
gone: the development machine loses ``runs/`` between sessions, the committed ``.onnx`` survives.

The export folds every BatchNorm into the convolution before it (``W_f = W·γ/√(σ²+ε)``, bias ``b_f``), so the graph has
lost the BN statistics that training-mode BN needs. They are rebuilt so that the PyTorch model computes exactly the
graph's function in eval mode and nearly the same in train mode:

- each ``Conv2d`` gets ``W_f`` (ferkit's convolutions have no bias of their own);
- its BatchNorm becomes ``γ = √(σ²+ε)``, ``β = μ + b_f``, running mean ``μ`` and variance ``σ²``, where ``μ, σ²`` are the
  per-channel mean and variance of ``W_f * x`` over a sample of training images. In eval mode that BN is ``x + b_f``
  whatever ``μ, σ²`` are; in train mode it normalises a batch with its own statistics, which are close to ``μ, σ²``,
  so the first steps start from (almost) the shipped network instead of from a shock.

Supported: the float graphs of the convolution/BN networks (``resnet_s``, ``resnet_xs``, ``se_resnet``, ``vgg``…) whose
convolutions each feed one BatchNorm, plus the final ``Linear`` (ONNX ``Gemm``). Int8 (QDQ) graphs are refused.
"""
from __future__ import annotations

import onnx
import torch
from onnx import numpy_helper
from torch import nn


def _conv_bn_pairs(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """The model's convolutions in the order a forward pass runs them (the ONNX graph's node order), each with the
    BatchNorm registered right after it (None if there is none)."""
    mods = list(model.modules())
    following = {id(m): (mods[i + 1] if i + 1 < len(mods) else None) for i, m in enumerate(mods)}
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in mods if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return [(c, following[id(c)] if isinstance(following[id(c)], nn.BatchNorm2d) else None) for c in order]


def init_from_onnx(model: nn.Module, path: str, x: torch.Tensor) -> None:
    """Loads the weights of the float classifier graph at ``path`` into ``model`` (same architecture), rebuilding its
    BatchNorm statistics from ``x``: normalised training images ``[N, 1, 48, 48]`` (a few hundred are enough).

    Raises ValueError (naming ``path``) when the graph is quantized or its convolutions or linear layer do not match
    the model's in number or shape."""
    graph = onnx.load(path)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.graph.node):
        raise ValueError(f"{path}: an int8 (QDQ) graph; start from its float graph instead")
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.graph.initializer}
    convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.graph.node if n.op_type == "Gemm"]
    pairs = _conv_bn_pairs(model, x)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(convs) != len(pairs) or len(gemms) != len(linears):
        raise ValueError(f"{path}: {len(convs)} Conv and {len(gemms)} Gemm nodes, but the model has {len(pairs)} "
                         f"convolutions and {len(linears)} linear layers: not the same architecture")
    with torch.no_grad():
        for node, (conv, bn) in zip(convs, pairs):
            w = weights[node.input[1]]
            b = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else torch.zeros(w.shape[0])
            if w.shape != conv.weight.shape:
                raise ValueError(f"{path}: Conv {node.name} has weights {tuple(w.shape)}, the model's convolution "
                                 f"{tuple(conv.weight.shape)}: not the same architecture")
            conv.weight.copy_(w)
            if bn is None:
                if conv.bias is None:
                    raise ValueError(f"{path}: Conv {node.name} has a bias the model's convolution cannot hold")
                conv.bias.copy_(b)
                continue
            # eval-mode BN with these parameters is x + b whatever the running statistics (set below)
            bn.running_mean.zero_()
            bn.running_var.fill_(1 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
        for node, lin in zip(gemms, linears):
            w = weights[node.input[1]]
            w = w if any(a.name == "transB" and a.i == 1 for a in node.attribute) else w.t()
            if w.shape != lin.weight.shape:
                raise ValueError(f"{path}: Gemm {node.name} has weights {tuple(w.shape)}, the model's linear layer "
                                 f"{tuple(lin.weight.shape)}: not the same architecture")
            lin.weight.copy_(w)
            lin.bias.copy_(weights[node.input[2]])
        # the statistics of each convolution's output (W_f * x, no bias) over x, with the graph's function in place
        stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        hooks = [conv.register_forward_hook(lambda m, i, o: stats.__setitem__(id(m), (o.mean((0, 2, 3)), o.var((0, 2, 3), unbiased=False))))
                 for conv, bn in pairs if bn is not None]
        try:
            model.eval()(x)
        finally:
            for h in hooks:
                h.remove()
        for conv, bn in pairs:
            if bn is None:
                continue
            mean, var = stats[id(conv)]
            bn.bias.add_(mean)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
