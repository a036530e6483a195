"""Wrap an exported classifier ``.onnx`` (float or int8) in flip test-time augmentation, by ONNX graph surgery.

``export.py --tta flip`` builds such a graph from a PyTorch checkpoint; this module does it for a graph that is already
an ``.onnx`` file, which is how the int8 variant gets it (``quantize.py`` quantizes the single-crop float graph, and
its ``QuantizeLinear``/``DequantizeLinear`` nodes stay as they are). The new graph:

1. mirrors the batch left–right (``Slice`` with step −1 on the width axis) and concatenates it to the batch:
   ``[2N, 1, 48, 48]``, one run of the network for both;
2. runs the original graph unchanged on it, giving ``[2N, 7]`` logits;
3. returns ``log(mean(softmax(a), softmax(b)))`` of each face's two rows, computed stably as
   ``logaddexp(log_softmax(a), log_softmax(b)) − log 2``: still ``logits`` ``[N, 7]``, whose softmax is the average of
   the two probability vectors.

The contract of the card is unchanged (input ``input`` float32 ``[N, 1, 48, 48]`` NCHW, (x−127.5)/127.5; output
``logits`` ``[N, 7]``, FER2013 order); the card gains ``input.tta: "flip"``, its ``publicTest`` figures become the
flip-averaged ones and ``publicTestSingleCrop`` keeps the network's own. Compute is 2× the input graph's.

    /usr/bin/python3 -m ferkit_train.tta --model ../models/ferkit-resnet-s-int8.onnx \\
        --data ../../shared/data/fer2013 --out ../models/ferkit-resnet-s-int8-flip.onnx
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from .data import load_split
from .export import LABEL_SETS, WithFlipTTA, flip_average, metrics, projected_accuracy, write_parity_fixture
from .onnx_teacher import OnnxModule
from .train import normalise, predict_logits

P = "ferkit_tta_"  # prefix of every tensor and node this module adds


def wrap_flip(model: onnx.ModelProto) -> onnx.ModelProto:
    """The flip-TTA graph of ``model`` (one input ``[N, 1, H, W]``, one output ``[N, C]`` of logits): see the module
    docstring. Raises ``ValueError`` for a graph with another number of inputs or outputs, or below opset 13."""
    g = model.graph
    weights = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in weights]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"expected one input and one output, got {[i.name for i in inputs]} / {[o.name for o in g.output]}")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ValueError(f"opset {opset} < 13 (Split with an optional 'split' input needs 13)")
    x, y = inputs[0].name, g.output[0].name
    pair, inner = P + "pair", P + "inner_logits"
    body = []
    for n in g.node:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.input[:] = [pair if t == x else t for t in m.input]
        m.output[:] = [inner if t == y else t for t in m.output]
        body.append(m)
    const = [numpy_helper.from_array(np.array(v, dtype=np.int64), P + k)
             for k, v in (("starts", [-1]), ("ends", [np.iinfo(np.int64).min]), ("axes", [3]), ("steps", [-1]))]
    const.append(numpy_helper.from_array(np.array(math.log(2.0), dtype=np.float32), P + "log2"))
    split = helper.make_node("Split", [P + "logp"], [P + "a", P + "b"], axis=0, name=P + "split",
                             **({"num_outputs": 2} if opset >= 18 else {}))  # an attribute from opset 18 on
    head = [helper.make_node("Slice", [x, P + "starts", P + "ends", P + "axes", P + "steps"], [P + "mirror"], name=P + "mirror"),
            helper.make_node("Concat", [x, P + "mirror"], [pair], axis=0, name=P + "concat")]
    tail = [helper.make_node("LogSoftmax", [inner], [P + "logp"], axis=1, name=P + "logsoftmax"), split,
            # logaddexp(a, b) = max + log(exp(a − max) + exp(b − max)); the larger term is exp(0) = 1, so the log is finite
            helper.make_node("Max", [P + "a", P + "b"], [P + "max"], name=P + "max"),
            helper.make_node("Sub", [P + "a", P + "max"], [P + "da"], name=P + "sub_a"),
            helper.make_node("Sub", [P + "b", P + "max"], [P + "db"], name=P + "sub_b"),
            helper.make_node("Exp", [P + "da"], [P + "ea"], name=P + "exp_a"),
            helper.make_node("Exp", [P + "db"], [P + "eb"], name=P + "exp_b"),
            helper.make_node("Add", [P + "ea", P + "eb"], [P + "sum"], name=P + "sum"),
            helper.make_node("Log", [P + "sum"], [P + "logsum"], name=P + "log"),
            helper.make_node("Add", [P + "max", P + "logsum"], [P + "lse"], name=P + "lse"),
            helper.make_node("Sub", [P + "lse", P + "log2"], [y], name=P + "mean")]
    out = helper.make_model(
        helper.make_graph(head + body + tail, g.name + "_flip_tta", list(g.input), list(g.output),
                          list(g.initializer) + const, value_info=list(g.value_info)),
        opset_imports=list(model.opset_import), producer_name="ferkit_train.tta")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="single-crop classifier .onnx (float or int8), its .card.json beside it")
    p.add_argument("--data", required=True, help="FER2013 root or fer2013.csv (for the PublicTest figures)")
    p.add_argument("--out", required=True, help=".onnx to write (its card is written beside it)")
    p.add_argument("--id", default=None, help="model id (default: the input's id + '-flip')")
    p.add_argument("--cache", default=None)
    p.add_argument("--fixtures", default="../test/fixtures", help="folder for <id>.parity.json")
    args = p.parse_args(argv)

    src = Path(args.model)
    fcard = json.loads(src.with_suffix(".card.json").read_text())
    if fcard.get("input", {}).get("tta", "none") != "none":
        raise SystemExit(f"{src}: its card says input.tta={fcard['input']['tta']!r}; wrap a single-crop graph")
    model = onnx.load(str(src))
    wrapped = wrap_flip(model)
    data = wrapped.SerializeToString()

    inner = OnnxModule(model).eval()
    x, y = load_split(args.data, "PublicTest", args.cache)
    xv = normalise(x)
    single = predict_logits(inner, xv, "cpu", fmt=torch.contiguous_format)
    mirror = predict_logits(inner, xv.flip(3), "cpu", fmt=torch.contiguous_format)
    flip_logits = flip_average(single, mirror)

    card = {k: v for k, v in fcard.items() if k not in ("speed", "calibration")}
    card.update(id=args.id or f"{fcard['id']}-flip", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    card["input"] = dict(fcard["input"], tta="flip",
                         note=fcard["input"].get("note", "") + "; the graph also classifies the mirror image and averages "
                              "the two softmaxes (flip TTA, 2x compute, included in every speed figure)")
    card["metrics"] = {"publicTest": metrics(flip_logits, y), "publicTestSingleCrop": metrics(single, y),
                       "note": f"PublicTest through this graph (flip TTA included: what the shipped model gives; "
                               f"computed in PyTorch from {fcard['id']}'s graph); the same network without the mirror "
                               f"image separately.",
                       "publicTestLabelSets": {k: projected_accuracy(flip_logits.softmax(1), y, k) for k in LABEL_SETS}}
    card["tta"] = {"method": "flip: mean of the softmax of the face and of its left-right mirror, one run of 2N",
                   "fromModel": {"id": fcard["id"], "sha256": fcard["sha256"]},
                   "command": "cd training && /usr/bin/python3 -m ferkit_train.tta " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(f"{card['id']}: PublicTest flip-TTA {card['metrics']['publicTest']['accuracy']:.4f} "
          f"(single crop {card['metrics']['publicTestSingleCrop']['accuracy']:.4f}), "
          f"macro-F1 {card['metrics']['publicTest']['macroF1']:.4f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, card_path = out.with_suffix(".tmp"), out.with_suffix(".card.json")
    tmpc = card_path.with_suffix(".json.tmp")
    tmp.write_bytes(data)
    tmpc.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, out)
    os.replace(tmpc, card_path)
    write_parity_fixture(WithFlipTTA(inner).eval(), card["id"], card["sha256"], Path(args.fixtures))
    print(f"wrote {out} ({len(data)} bytes), {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
