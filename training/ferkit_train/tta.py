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

With ``--model`` repeated, the graph is an in-graph ensemble (:func:`wrap_views`): each member runs on the face
(``--flip`` entry 0), on the face and its mirror (1) or on the mirror only (``m``); the output is the log of the mean
of all those softmaxes. The card says
``input.tta: "ensemble"`` and lists the members (``tta.members``, ``metrics.publicTestMembers``). Compute is one run of
the member per view: three views measured 1,415 faces/s at batch 64 on the 2-core machine (2026-12-03), under the
default's 1,500 bar, so an ensemble for the default can have two views at most. The default since 2026-12-03 12:10 is
such a pair: one network on the face, another on the mirror image (``--flip 0,m``), which adds the flip's diversity to
the ensemble's without a third view.

    /usr/bin/python3 -m ferkit_train.tta --model ../models/ferkit-resnet-s-int8.onnx \\
        --data ../../shared/data/fer2013 --out ../models/ferkit-resnet-s-int8-flip.onnx
    /usr/bin/python3 -m ferkit_train.tta --model a-int8.onnx --model b-int8.onnx --flip 0,0 --id pair \\
        --data ../../shared/data/fer2013 --out runs/exports/pair.onnx --fixtures runs/exports
    /usr/bin/python3 -m ferkit_train.tta --model candidates/resnet-s-triokd-int8.onnx \
        --model ../models/ferkit-resnet-s-int8.onnx --flip 0,m --id ferkit-resnet-s-int8-ensemble \
        --data ../../shared/data/fer2013 --out ../models/ferkit-resnet-s-int8-ensemble.onnx   # the default
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
import onnx.compose
import torch
from onnx import helper, numpy_helper

from .data import load_split
from .export import LABEL_SETS, WithFlipTTA, metrics, projected_accuracy, write_parity_fixture
from .onnx_teacher import OnnxModule
from .train import normalise, predict_logits

P = "ferkit_tta_"  # prefix of every tensor and node this module adds
VIEWS = {"0": "face", "1": "both", "m": "mirror"}  # --flip entries: the views each member classifies
MIRRORED = {"face": (False,), "both": (False, True), "mirror": (True,)}  # per member's views: is each view the mirror?


def wrap_flip(model: onnx.ModelProto) -> onnx.ModelProto:
    """The flip-TTA graph of ``model`` (one input ``[N, 1, H, W]``, one output ``[N, C]`` of logits): see the module
    docstring. Raises ``ValueError`` for a graph with another number of inputs or outputs, or below opset 13."""
    return wrap_views([model], ["both"])


def _io(model: onnx.ModelProto) -> tuple[str, str]:
    g = model.graph
    weights = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in weights]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"expected one input and one output, got {[i.name for i in inputs]} / {[o.name for o in g.output]}")
    return inputs[0].name, g.output[0].name


def wrap_views(models: list[onnx.ModelProto], modes: list[str]) -> onnx.ModelProto:
    """One graph that averages the softmaxes of several classifiers (an ensemble), each on its ``modes`` entry's views:
    ``"face"``, ``"both"`` (the face and its mirror image, one run of 2N for that member) or ``"mirror"``. Input and output are those of
    ``models[0]`` (``[N, 1, H, W]`` in, ``[N, C]`` logits out); the output is log(mean of the softmaxes), combined with
    a stable pairwise logaddexp. With one member and a flip this is :func:`wrap_flip`'s graph, node for node (the
    members of an ensemble get the name prefix ``ferkit_tta_m<i>_``). Raises ``ValueError`` for graphs with another
    number of inputs or outputs, members with different opsets, or below opset 13."""
    if not models or len(models) != len(modes):
        raise ValueError(f"{len(models)} models, {len(modes)} view modes")
    if set(modes) - set(MIRRORED):
        raise ValueError(f"view modes {modes}: each is face, both or mirror")
    opsets = {tuple((o.domain, o.version) for o in m.opset_import) for m in models}
    if len(opsets) != 1:
        raise ValueError(f"the members have different opsets: {sorted(opsets)}")
    model = models[0]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ValueError(f"opset {opset} < 13 (Split with an optional 'split' input needs 13)")
    x, y = _io(model)
    single = len(models) == 1
    head, body, tail, weights, value_info = [], [], [], [], []
    const = []
    if any(mode != "face" for mode in modes):
        const += [numpy_helper.from_array(np.array(v, dtype=np.int64), P + k)
                  for k, v in (("starts", [-1]), ("ends", [np.iinfo(np.int64).min]), ("axes", [3]), ("steps", [-1]))]
        head.append(helper.make_node("Slice", [x, P + "starts", P + "ends", P + "axes", P + "steps"], [P + "mirror"],
                                     name=P + "mirror"))
    logps = []  # [N, C] log-probabilities, one per view
    for i, (m, mode) in enumerate(zip(models, modes)):
        flip = mode == "both"
        q = "" if single else f"{P}m{i}_"
        if q:
            m = onnx.compose.add_prefix(m, q)
        mx, my = _io(m)
        sfx = "" if single else str(i)
        pair, inner = P + "pair" + sfx, P + "inner_logits" + sfx
        feed = pair if flip else P + "mirror" if mode == "mirror" else x
        for n in m.graph.node:
            c = onnx.NodeProto()
            c.CopyFrom(n)
            c.input[:] = [feed if t == mx else t for t in c.input]
            c.output[:] = [inner if t == my else t for t in c.output]
            body.append(c)
        weights += list(m.graph.initializer)
        value_info += list(m.graph.value_info)
        if flip:
            head.append(helper.make_node("Concat", [x, P + "mirror"], [pair], axis=0, name=P + "concat" + sfx))
        tail.append(helper.make_node("LogSoftmax", [inner], [P + "logp" + sfx], axis=1, name=P + "logsoftmax" + sfx))
        if flip:
            a, b = (P + "a", P + "b") if single else (P + f"a{i}", P + f"b{i}")
            tail.append(helper.make_node("Split", [P + "logp" + sfx], [a, b], axis=0, name=P + "split" + sfx,
                                         **({"num_outputs": 2} if opset >= 18 else {})))  # an attribute from opset 18 on
            logps += [a, b]
        else:
            logps.append(P + "logp" + sfx)
    if len(logps) == 1:
        tail.append(helper.make_node("Identity", [logps[0]], [y], name=P + "out"))
    else:
        n_views = len(logps)
        const.append(numpy_helper.from_array(np.array(math.log(n_views), dtype=np.float32), P + f"log{n_views}"))
        acc = logps[0]
        for j, b in enumerate(logps[1:], start=1):
            s = "" if n_views == 2 else f"_{j}"
            a = acc
            # logaddexp(a, b) = max + log(exp(a − max) + exp(b − max)); the larger term is exp(0) = 1, so the log is finite
            tail += [helper.make_node("Max", [a, b], [P + "max" + s], name=P + "max" + s),
                     helper.make_node("Sub", [a, P + "max" + s], [P + "da" + s], name=P + "sub_a" + s),
                     helper.make_node("Sub", [b, P + "max" + s], [P + "db" + s], name=P + "sub_b" + s),
                     helper.make_node("Exp", [P + "da" + s], [P + "ea" + s], name=P + "exp_a" + s),
                     helper.make_node("Exp", [P + "db" + s], [P + "eb" + s], name=P + "exp_b" + s),
                     helper.make_node("Add", [P + "ea" + s, P + "eb" + s], [P + "sum" + s], name=P + "sum" + s),
                     helper.make_node("Log", [P + "sum" + s], [P + "logsum" + s], name=P + "log" + s),
                     helper.make_node("Add", [P + "max" + s, P + "logsum" + s], [P + "lse" + s], name=P + "lse" + s)]
            acc = P + "lse" + s
        tail.append(helper.make_node("Sub", [acc, P + f"log{n_views}"], [y], name=P + "mean"))
    g = model.graph
    name = g.name + "_flip_tta" if single and modes[0] == "both" else g.name + f"_ensemble{len(models)}"
    out = helper.make_model(
        helper.make_graph(head + body + tail, name, list(g.input), list(g.output), weights + const,
                          value_info=value_info),
        opset_imports=list(model.opset_import), producer_name="ferkit_train.tta")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def mean_of_views(views: list[torch.Tensor]) -> torch.Tensor:
    """Logits ``[N, C]`` whose softmax is the mean of the softmaxes of ``views`` (each ``[N, C]`` logits): what the
    graph of :func:`wrap_views` computes."""
    return torch.stack([v.softmax(1) for v in views]).mean(0).log()


class ViewEnsemble(torch.nn.Module):
    """PyTorch twin of :func:`wrap_views` (for the parity fixture of an ensemble)."""

    def __init__(self, members: list[torch.nn.Module], modes: list[str]):
        super().__init__()
        self.members, self.modes = torch.nn.ModuleList(members), modes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mean_of_views([m(x.flip(3) if mirrored else x) for m, mode in zip(self.members, self.modes) for mirrored in MIRRORED[mode]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, action="append",
                   help="single-crop classifier .onnx (float or int8), its .card.json beside it; repeat it for an "
                        "in-graph ensemble (one graph averaging the members' softmaxes)")
    p.add_argument("--flip", default=None,
                   help="per --model, comma-separated: 0 = the face only, 1 = the face and its mirror image, m = the "
                        "mirror image only (default: 1 for each)")
    p.add_argument("--data", required=True, help="FER2013 root or fer2013.csv (for the PublicTest figures)")
    p.add_argument("--out", required=True, help=".onnx to write (its card is written beside it)")
    p.add_argument("--id", default=None, help="model id (default: the input's id + '-flip'; required for an ensemble)")
    p.add_argument("--selected-on", default=None, help="the card's selectedOn: how this graph was chosen (default: the "
                                                     "first member's)")
    p.add_argument("--cache", default=None)
    p.add_argument("--fixtures", default="../test/fixtures", help="folder for <id>.parity.json")
    args = p.parse_args(argv)

    srcs = [Path(m) for m in args.model]
    flags = ["1"] * len(srcs) if args.flip is None else [f.strip() for f in args.flip.split(",")]
    if set(flags) - set(VIEWS):
        raise SystemExit(f"--flip {args.flip!r}: each entry is 0, 1 or m")
    modes = [VIEWS[f] for f in flags]
    if len(modes) != len(srcs):
        raise SystemExit(f"--flip {args.flip!r} has {len(modes)} entries for {len(srcs)} --model")
    if len(srcs) > 1 and not args.id:
        raise SystemExit("an ensemble needs --id")
    if len(srcs) == 1 and modes[0] != "both":
        raise SystemExit("one --model is wrapped with --flip 1 (face and mirror); 0 is the model itself, m its mirror only")
    fcards = [json.loads(src.with_suffix(".card.json").read_text()) for src in srcs]
    for src, fcard in zip(srcs, fcards):
        if fcard.get("input", {}).get("tta", "none") != "none":
            raise SystemExit(f"{src}: its card says input.tta={fcard['input']['tta']!r}; wrap a single-crop graph")
    models = [onnx.load(str(src)) for src in srcs]
    wrapped = wrap_views(models, modes)
    data = wrapped.SerializeToString()

    inners = [OnnxModule(m).eval() for m in models]
    x, y = load_split(args.data, "PublicTest", args.cache)
    xv = normalise(x)
    singles = [predict_logits(m, xv, "cpu", fmt=torch.contiguous_format) for m in inners]
    views = [predict_logits(m, xv.flip(3), "cpu", fmt=torch.contiguous_format) if mirrored else s
             for m, s, mode in zip(inners, singles, modes) for mirrored in MIRRORED[mode]]
    out_logits = mean_of_views(views)

    fcard = fcards[0]
    n_views, ensemble = len(views), len(srcs) > 1
    card = {k: v for k, v in fcard.items() if k not in ("speed", "calibration")}
    card.update(id=args.id or f"{fcard['id']}-flip", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if args.selected_on:
        card["selectedOn"] = args.selected_on
    if not ensemble:
        card["input"] = dict(fcard["input"], tta="flip",
                             note=fcard["input"].get("note", "") + "; the graph also classifies the mirror image and "
                                  "averages the two softmaxes (flip TTA, 2x compute, included in every speed figure)")
        what = "flip TTA included"
    else:
        on = {"face": "", "both": " (face and mirror)", "mirror": " (on the mirror image)"}
        names = " + ".join(f"{c['id']}{on[mode]}" for c, mode in zip(fcards, modes))
        card["input"] = dict(fcard["input"], tta="ensemble",
                             note=fcard["input"].get("note", "") + f"; the graph runs {names} and averages the "
                                  f"{n_views} softmaxes ({n_views}x compute, included in every speed figure)")
        card["parameters"] = sum(int(c.get("parameters", 0)) for c in fcards)
        card.pop("quantization", None)
        if any("quantization" in c for c in fcards):  # int8 members: their recipes (the floatModel of each is its own)
            card["quantization"] = {"members": {c["id"]: c["quantization"] for c in fcards if "quantization" in c}}
        card["training"] = {"note": "an in-graph ensemble of trained networks: each member's training is in its own card "
                                    "(tta.members); below, each member's command, epochs and minutes",
                            "members": {c["id"]: {**{k: c.get("training", {}).get(k) for k in ("command", "epochsRun", "trainMinutes", "machine")},
                                                  # 1 when the member's training left the calibration hold-out out
                                                  "calibration_holdout": c.get("training", {}).get("args", {}).get("calibration_holdout")}
                                        for c in fcards}}
        card["trainedOn"] = " | ".join(f"{c['id']}: {c.get('trainedOn', '?')}" for c in fcards)
        what = "the ensemble"
    card["metrics"] = {"publicTest": metrics(out_logits, y), "publicTestSingleCrop": metrics(singles[0], y),
                       "note": f"PublicTest through this graph ({what}: what the shipped model gives; computed in "
                               f"PyTorch from the members' graphs); {fcard['id']} alone on the face only separately.",
                       "publicTestLabelSets": {k: projected_accuracy(out_logits.softmax(1), y, k) for k in LABEL_SETS}}
    if ensemble:
        card["metrics"]["publicTestMembers"] = {c["id"]: metrics(s, y) for c, s in zip(fcards, singles)}
    card["tta"] = {"method": ("flip: mean of the softmax of the face and of its left-right mirror, one run of 2N"
                              if not ensemble else
                              f"ensemble: mean of {n_views} softmaxes, each member on its views (face, face and mirror, or mirror)"),
                   "fromModel": {"id": fcard["id"], "sha256": fcard["sha256"]},
                   **({"members": [{"id": c["id"], "sha256": c["sha256"], "views": mode} for c, mode in zip(fcards, modes)]}
                      if ensemble else {}),
                   "command": "cd training && /usr/bin/python3 -m ferkit_train.tta " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(f"{card['id']}: PublicTest {card['metrics']['publicTest']['accuracy']:.4f} "
          f"({fcard['id']} single crop {card['metrics']['publicTestSingleCrop']['accuracy']:.4f}), "
          f"macro-F1 {card['metrics']['publicTest']['macroF1']:.4f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, card_path = out.with_suffix(".tmp"), out.with_suffix(".card.json")
    tmpc = card_path.with_suffix(".json.tmp")
    tmp.write_bytes(data)
    tmpc.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, out)
    os.replace(tmpc, card_path)
    twin = ViewEnsemble(inners, modes).eval() if ensemble else WithFlipTTA(inners[0]).eval()
    write_parity_fixture(twin, card["id"], card["sha256"], Path(args.fixtures))
    print(f"wrote {out} ({len(data)} bytes), {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
