"""Static int8 quantization of an exported classifier, in ONNX Runtime's QDQ format, without ONNX Runtime's Python tools.

ONNX Runtime's quantizer (``onnxruntime.quantization.quantize_static``) is in the ``onnxruntime`` Python package, which
is on PyPI only (not in Debian, and PyPI is not reachable from this project's machines). This module does the same
static QDQ quantization with the ``onnx`` package and PyTorch:

1. **Calibration**: the float graph runs (node by node, ``onnx_teacher.OnnxModule``'s operators) on ``--calibration``
   Training images drawn at random (seeded; the calibration hold-out of the temperature fit is left out), and the range
   of every activation tensor is recorded (``--range minmax``, ONNX Runtime's default ``MinMax``, or ``percentile``:
   the 0.01 / 99.99 percentiles).
2. **Weights**: every ``Conv`` weight becomes int8, symmetric, per output channel (``DequantizeLinear`` on axis 0); its
   bias int32 with scale ``input scale × weight scale`` (what ``QLinearConv`` wants). The last ``Gemm`` (a 7-way linear
   layer) stays float, as ONNX Runtime's quantizer leaves ops it cannot fuse.
3. **Activations**: every activation tensor that feeds a ``Conv``, ``Add``, ``Relu``, ``MaxPool`` or
   ``GlobalAveragePool``, and the graph input, gets a ``QuantizeLinear`` → ``DequantizeLinear`` pair, uint8 asymmetric,
   so that ONNX Runtime's graph optimiser fuses each ``DQ → op → Q`` group into its integer kernel (``QLinearConv``,
   ``QLinearAdd``, ``QLinearGlobalAveragePool``; a ``Relu`` before a ``Q`` folds into it). The input's [-1, 1] in 255
   steps puts the 256 grey levels half a step off the grid, so a few neighbouring levels merge (accuracy unchanged).

Example (from ``training/``)::

    /usr/bin/python3 -m ferkit_train.quantize --model ../models/ferkit-resnet-s.onnx \\
        --data ../../shared/data/fer2013 --out ../models/ferkit-resnet-s-int8.onnx

The output keeps the input ``input`` ``[N, 1, 48, 48]`` float32 NCHW and the output ``logits`` ``[N, 7]`` float32 of the
float model, so the same card contract applies; accuracy and speed are measured in ONNX Runtime by ``ferkit evaluate``
and ``npm run bench:models``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .data import calibration_mask, load_split, load_split_with_ids
from .export import LABEL_SETS, flip_average, metrics, projected_accuracy, write_parity_fixture
from .onnx_teacher import OnnxModule
from .train import normalise

W_QMAX = 63  # 7-bit weights ("reduce_range"): see the module docstring
QUANTIZED_INPUT_OPS = {"Conv", "Add", "Relu", "MaxPool", "GlobalAveragePool"}


def activation_ranges(graph: OnnxModule, x: torch.Tensor, mode: str, batch: int = 256) -> dict[str, tuple[float, float]]:
    """Range (lo, hi) of every activation tensor of ``graph`` over the images ``x`` (float32 ``[N, 1, 48, 48]``)."""
    samples: dict[str, list[np.ndarray]] = {}
    lo_hi: dict[str, list[float]] = {}
    for i in range(0, len(x), batch):
        for name, v in graph.activations(x[i:i + batch]).items():
            if mode == "minmax":
                cur = lo_hi.setdefault(name, [np.inf, -np.inf])
                cur[0] = min(cur[0], float(v.min()))
                cur[1] = max(cur[1], float(v.max()))
            else:  # percentile: keep a random subsample of values per tensor
                flat = v.flatten()
                idx = torch.randint(0, flat.numel(), (min(flat.numel(), 200_000),), generator=torch.Generator().manual_seed(i))
                samples.setdefault(name, []).append(flat[idx].numpy())
    if mode == "minmax":
        return {k: (v[0], v[1]) for k, v in lo_hi.items()}
    out = {}
    for k, parts in samples.items():
        a = np.concatenate(parts)
        out[k] = (float(np.percentile(a, 0.01)), float(np.percentile(a, 99.99)))
    return out


def uint8_params(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point of an asymmetric uint8 quantization of [lo, hi] (the range always includes 0)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(round(-lo / scale))
    return scale, max(0, min(255, zp))


def fold_relus(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The graph's nodes with every ``Relu`` that is the only consumer of a ``Conv`` or ``Add`` removed, the producer
    writing the ``Relu``'s output instead. Only valid in the QDQ graph: the producer's output is then quantized with the
    ``Relu`` output's range, whose zero point is 0, so ``QuantizeLinear``'s saturation does the ``Relu`` (as in ONNX
    Runtime's quantizer)."""
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in model.graph.node]
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in nodes for o in n.output}
    graph_outputs = {o.name for o in model.graph.output}
    drop = set()
    for n in nodes:
        if n.op_type != "Relu":
            continue
        src = producer.get(n.input[0])
        if (src is None or src.op_type not in {"Conv", "Add"} or len(consumers[n.input[0]]) != 1
                or n.input[0] in graph_outputs or n.output[0] in graph_outputs):  # a graph output would lose its Relu
            continue
        src.output[0] = n.output[0]
        drop.add(id(n))
    return [n for n in nodes if id(n) not in drop]


def quantize(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """The QDQ int8 model (see the module docstring)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes = fold_relus(model)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    new_inits: list[TensorProto] = []
    new_nodes: list[onnx.NodeProto] = []
    act_scale: dict[str, float] = {}
    dq_name: dict[str, str] = {}

    def qdq(tensor: str) -> str:
        """Q → DQ of an activation tensor (once per tensor); returns the name of the dequantized tensor."""
        if tensor in dq_name:
            return dq_name[tensor]
        scale, zp = uint8_params(*ranges[tensor])
        act_scale[tensor] = scale
        s, z = f"{tensor}_scale", f"{tensor}_zero_point"
        new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        new_inits.append(numpy_helper.from_array(np.array(zp, np.uint8), z))
        new_nodes.append(helper.make_node("QuantizeLinear", [tensor, s, z], [f"{tensor}_quantized"], name=f"{tensor}_QuantizeLinear"))
        new_nodes.append(helper.make_node("DequantizeLinear", [f"{tensor}_quantized", s, z], [f"{tensor}_dequantized"],
                                          name=f"{tensor}_DequantizeLinear"))
        dq_name[tensor] = f"{tensor}_dequantized"
        return dq_name[tensor]

    def dq_weight(name: str, q: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> str:
        new_inits.extend([numpy_helper.from_array(q, f"{name}_quantized"), numpy_helper.from_array(scale, f"{name}_scale"),
                          numpy_helper.from_array(zero, f"{name}_zero_point")])
        new_nodes.append(helper.make_node("DequantizeLinear", [f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"],
                                          [f"{name}_dequantized"], name=f"{name}_DequantizeLinear", axis=0))
        return f"{name}_dequantized"

    qdq(g.input[0].name)
    for node in nodes:  # topological order: a tensor's Q/DQ exists before its consumers are reached
        ins = [dq_name.get(name, name) for name in node.input]
        if node.op_type in QUANTIZED_INPUT_OPS:
            ins = [qdq(name) if name and name not in inits else name for name in node.input]
        if node.op_type == "Conv":
            w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            w_scale = (np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-12) / W_QMAX).astype(np.float32)
            w_q = np.clip(np.round(w / w_scale.reshape(-1, *[1] * (w.ndim - 1))), -W_QMAX, W_QMAX).astype(np.int8)
            ins[1] = dq_weight(node.input[1], w_q, w_scale, np.zeros(len(w_scale), np.int8))
            if len(node.input) > 2 and node.input[2]:
                b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
                b_scale = (act_scale[node.input[0]] * w_scale.astype(np.float64)).astype(np.float32)
                b_q = np.round(b / b_scale.astype(np.float64))
                if np.abs(b_q).max() > np.iinfo(np.int32).max:  # would wrap silently (a channel of near-zero weights)
                    raise ValueError(f"{node.name or node.input[1]}: bias does not fit int32 at scale input × weight scale")
                b_q = b_q.astype(np.int32)
                ins[2] = dq_weight(node.input[2], b_q, b_scale, np.zeros(len(b_scale), np.int32))
        new_node = helper.make_node(node.op_type, ins, list(node.output), name=node.name or None, domain=node.domain or None)
        new_node.attribute.extend(node.attribute)
        new_nodes.append(new_node)
        # Close each quantized op's group with a Q on its output (DQ → op → Q is what ONNX Runtime fuses). MaxPool's
        # output shares its input's scale and zero point, so that ONNX Runtime runs it on the uint8 tensor directly.
        if node.op_type == "MaxPool":
            ranges[node.output[0]] = ranges[node.input[0]]
        if node.op_type in QUANTIZED_INPUT_OPS and consumers.get(node.output[0]):
            qdq(node.output[0])
    used = {i for n in new_nodes for i in n.input}
    kept = [i for i in g.initializer if i.name in used]
    graph = helper.make_graph(new_nodes, g.name, list(g.input), list(g.output), kept + new_inits)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="ferkit_train.quantize")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def int8_card(float_path: Path, data: bytes, graph: OnnxModule, args: argparse.Namespace) -> dict:
    """The int8 model's card: the float card's contract (input, labels, training) with this file's hash and size, the
    quantization recipe, and PublicTest metrics of the int8 ``graph`` (run in PyTorch, which simulates each
    ``QuantizeLinear``/``DequantizeLinear`` in float; ONNX Runtime's integer kernels agree to within rounding,
    checked by ``ferkit evaluate``). The temperature is refitted by ``bench/calibrate.ts --write-cards``."""
    fcard = json.loads(float_path.with_suffix(".card.json").read_text())
    x, y = load_split(args.data, "PublicTest", args.cache)
    xv = normalise(x)
    with torch.no_grad():
        logits = torch.cat([graph(xv[i:i + 512]) for i in range(0, len(xv), 512)])
        flip = torch.cat([graph(xv[i:i + 512].flip(3)) for i in range(0, len(xv), 512)])
    flip_logits = flip_average(logits, flip)
    card = {k: v for k, v in fcard.items() if k not in ("speed", "calibration")}
    card.update(id=args.id or f"{fcard['id']}-int8", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    card["metrics"] = {"publicTest": metrics(logits, y), "publicTestFlipTTA": metrics(flip_logits, y),
                       "note": "PublicTest through the int8 graph, single crop (QDQ simulated in PyTorch); flip-TTA separately.",
                       "publicTestLabelSets": {k: projected_accuracy(logits.softmax(1), y, k) for k in LABEL_SETS}}
    card["quantization"] = {
        "method": "static, QDQ (QuantizeLinear/DequantizeLinear around every Conv, Add, Relu, MaxPool, GlobalAveragePool)",
        "weights": f"int8 symmetric per output channel, 7-bit range ±{W_QMAX} (avoids the int16 saturation of AVX2 u8s8 kernels)",
        "activations": f"uint8 asymmetric per tensor, ranges: {args.range} over {args.calibration} Training images "
                       f"(seed {args.seed}; the calibration hold-out left out)",
        "floatModel": {"id": fcard["id"], "sha256": fcard["sha256"], "publicTestAccuracy": fcard["metrics"]["publicTest"]["accuracy"]},
        "command": "cd training && /usr/bin/python3 -m ferkit_train.quantize " + " ".join(sys.argv[1:]),
    }
    print(f"int8 PublicTest accuracy {card['metrics']['publicTest']['accuracy']:.4f} "
          f"(float {fcard['metrics']['publicTest']['accuracy']:.4f}); flip-TTA {card['metrics']['publicTestFlipTTA']['accuracy']:.4f}")
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="float classifier .onnx (with its .card.json beside it)")
    p.add_argument("--data", required=True, help="FER2013 root (Training/ folders) or fer2013.csv")
    p.add_argument("--out", required=True, help="int8 .onnx to write (a card is written beside it)")
    p.add_argument("--calibration", type=int, default=1000, help="Training images for the activation ranges")
    p.add_argument("--range", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None)
    p.add_argument("--id", default=None, help="model id (default: the float model's id + '-int8')")
    p.add_argument("--fixtures", default="../test/fixtures", help="folder for <id>.parity.json")
    args = p.parse_args(argv)

    model = onnx.load(args.model)
    x, _, ids = load_split_with_ids(args.data, "Training", args.cache)
    pool = np.flatnonzero(~calibration_mask(ids))
    pick = np.random.default_rng(args.seed).choice(pool, size=min(args.calibration, len(pool)), replace=False)
    ranges = activation_ranges(OnnxModule(args.model), normalise(x[np.sort(pick)]), args.range)
    q = quantize(model, ranges)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = q.SerializeToString()
    graph = OnnxModule(q).eval()
    card = int8_card(Path(args.model), data, graph, args)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    card_path = out.with_suffix(".card.json")
    tmpc = card_path.with_suffix(".json.tmp")
    tmpc.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, out)
    os.replace(tmpc, card_path)
    write_parity_fixture(graph, card["id"], card["sha256"], Path(args.fixtures))
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB (float: {Path(args.model).stat().st_size / 1e6:.2f} MB), "
          f"{sum(n.op_type == 'QuantizeLinear' for n in q.graph.node)} quantized activations, "
          f"{args.calibration} calibration images, range {args.range}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
