"""Export a trained run to ONNX plus a JSON model card, and measure it on PublicTest.

    /usr/bin/python3 -m ferkit_train.export --run runs/ferkit_lite --id ferkit-lite \
        --data ../../shared/data/fer2013 --models ../models --fixtures ../test/fixtures

Writes ``<models>/<id>.onnx`` (input ``input`` float32 [N,1,48,48] NCHW, (x-127.5)/127.5; output ``logits``
[N,7] in FER2013 order), ``<models>/<id>.card.json``, ``<fixtures>/<id>.parity.json`` (inputs and torch logits,
for the ONNX Runtime parity test) and ``<run>/curves.png``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import EXPRESSIONS
from .data import load_split
from .models import SpatialTransformer, create_model
from .train import MEAN, STD, normalise, predict_logits


def flip_average(logits: torch.Tensor, mirror_logits: torch.Tensor) -> torch.Tensor:
    """Flip TTA of two ``[N, 7]`` logits rows (a face, its mirror image): the log of the mean of their softmaxes, still
    logits (softmax of it gives the averaged probabilities)."""
    return ((logits.softmax(1) + mirror_logits.softmax(1)) * 0.5).log()


class WithFlipTTA(nn.Module):
    """Test-time augmentation inside the graph: runs the model on the batch and on its mirror image (one run of 2N) and
    returns the log of the mean softmax, so the output is still logits (softmax of it gives the averaged probabilities)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, mirror = self.model(torch.cat([x, x.flip(3)])).chunk(2)
        return flip_average(logits, mirror)


def metrics(logits: torch.Tensor, y: np.ndarray) -> dict:
    pred = logits.argmax(1).numpy()
    k = len(EXPRESSIONS)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per = []
    for c, name in enumerate(EXPRESSIONS):
        tp, sup, prd = cm[c, c], cm[c].sum(), cm[:, c].sum()
        p = tp / prd if prd else 0.0
        r = tp / sup if sup else 0.0
        per.append({"label": name, "precision": round(float(p), 4), "recall": round(float(r), 4),
                    "f1": round(float(2 * p * r / (p + r)) if p + r else 0.0, 4), "support": int(sup)})
    top2 = (logits.topk(2, 1).indices.numpy() == y[:, None]).any(1).mean()
    # expected calibration error, 15 equal-width confidence bins (as `ferkit evaluate` reports it)
    conf, hit = logits.softmax(1).max(1).values.numpy(), pred == y
    bins = np.minimum((conf * 15).astype(int), 14)
    ece = sum(abs(hit[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean() for b in range(15) if (bins == b).any())
    return {"n": int(len(y)), "accuracy": round(float((pred == y).mean()), 4), "top2Accuracy": round(float(top2), 4),
            "macroF1": round(float(np.mean([p["f1"] for p in per])), 4), "ece": round(float(ece), 4), "confusion": cm.tolist(), "perClass": per}


# Label-set projections, as in src/core/labels.ts: merged classes are summed, dropped ones (None) removed and renormalised.
LABEL_SETS = {
    "6": {"disgust": "angry"},
    "5": {"disgust": "angry", "surprise": None},
    "5b": {"disgust": "angry", "fear": None},
    "valence": {"angry": "negative", "disgust": "negative", "fear": "negative", "sad": "negative",
                "happy": "positive", "surprise": "positive", "neutral": "neutral"},
}


def projected_accuracy(probs: torch.Tensor, y: np.ndarray, set_id: str) -> dict:
    mapping = {e: LABEL_SETS[set_id].get(e, e) for e in EXPRESSIONS}
    targets = sorted({t for t in mapping.values() if t is not None})
    m = torch.zeros(len(EXPRESSIONS), len(targets))
    for i, e in enumerate(EXPRESSIONS):
        if mapping[e] is not None:
            m[i, targets.index(mapping[e])] = 1
    p = probs @ m
    true = [mapping[EXPRESSIONS[k]] for k in y]
    keep = np.array([t is not None for t in true])
    pred = p.argmax(1).numpy()
    t_idx = np.array([targets.index(t) if t is not None else -1 for t in true])
    return {"n": int(keep.sum()), "accuracy": round(float((pred[keep] == t_idx[keep]).mean()), 4)}


def default_opset(graph: nn.Module) -> int:
    """13 (what every shipped classifier uses), or 16 for a graph with a spatial transformer: ONNX has GridSample
    since opset 16 (ONNX Runtime 1.30 runs it on CPU and in WASM)."""
    return 16 if any(isinstance(m, SpatialTransformer) for m in graph.modules()) else 13


def export_onnx(graph: nn.Module, path: Path, opset: int | None = None) -> None:
    """Writes ``graph`` (in eval mode) as ONNX in ferkit's classifier contract: input ``input`` float32
    ``[batch, 1, 48, 48]``, output ``logits`` ``[batch, 7]``, dynamic batch; checked by ``onnx.checker``.
    ``opset`` defaults to ``default_opset(graph)``."""
    opset = opset or default_opset(graph)
    torch.onnx.export(graph, torch.zeros(1, 1, 48, 48), str(path), opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(str(path)))


def write_parity_fixture(graph: nn.Module, model_id: str, sha256: str, fixtures: Path) -> None:
    """``<fixtures>/<id>.parity.json`` for the ONNX Runtime parity test: four deterministic synthetic 48×48 inputs (noise,
    a smooth pattern, a disc, flat grey; no dataset pixels) and ``graph``'s logits for them."""
    g = torch.Generator().manual_seed(7)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    px = torch.stack([(torch.rand(48, 48, generator=g) * 255).round(),
                      (127.5 + 127.5 * torch.sin(3 * xx) * torch.cos(2 * yy)).round(),
                      (255 * ((xx ** 2 + yy ** 2) < 0.5).float()).round(),
                      torch.full((48, 48), 128.0)])
    with torch.no_grad():
        ref = graph(((px - MEAN) / STD).unsqueeze(1))
    fixtures.mkdir(parents=True, exist_ok=True)
    (fixtures / f"{model_id}.parity.json").write_text(json.dumps(
        {"model": model_id, "sha256": sha256, "pixels": px.flatten(1).int().tolist(),
         "logits": [[round(v, 6) for v in row] for row in ref.tolist()]}) + "\n")


def plot_curves(run: Path) -> Path | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no curves.png (apt-get install python3-matplotlib)")
        return None
    rows = list(csv.DictReader(open(run / "summary.csv")))
    argv = json.loads((run / "args.json").read_text()).get("argv", [])
    ep = [int(r["epoch"]) for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [float(r["train_loss"]) for r in rows], label="train (weighted, smoothed)")
    ax[0].plot(ep, [float(r["val_loss"]) for r in rows], label="validation")
    ax[0].set_title("loss"); ax[0].set_xlabel("epoch"); ax[0].legend()
    ax[1].plot(ep, [float(r["train_acc"]) for r in rows], label="train (augmented)")
    ax[1].plot(ep, [float(r["val_acc"]) for r in rows], label="validation")
    ax[1].set_title("accuracy"); ax[1].set_xlabel("epoch"); ax[1].legend()
    fig.suptitle(run.name); fig.tight_layout()
    out = run / "curves.png"
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--id", required=True, help="model id, e.g. ferkit-lite")
    p.add_argument("--data", required=True, help="FER2013 root or fer2013.csv (for the PublicTest figures)")
    p.add_argument("--models", default="../models")
    p.add_argument("--fixtures", default="../test/fixtures")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 13, or 16 for a model with a spatial transformer)")
    p.add_argument("--tta", choices=["none", "flip"], default="none",
                   help="'flip': the graph averages the softmax of each face and its mirror image (2x the compute); "
                        "the card's publicTest figure is then the flip-averaged one")
    args = p.parse_args(argv)
    run = Path(args.run)
    ck = torch.load(run / "best.pt", map_location="cpu")
    targs = ck["args"]
    model = create_model(targs["model"])
    model.load_state_dict(ck["model"])
    model.eval()
    graph = WithFlipTTA(model).eval() if args.tta == "flip" else model

    models_dir = Path(args.models); models_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = models_dir / f"{args.id}.onnx"
    tmp = onnx_path.with_suffix(".onnx.tmp")
    export_onnx(graph, tmp, args.opset)
    data = tmp.read_bytes()  # the .onnx and its card are committed together at the end, so a failure leaves neither changed

    status = json.loads((run / "status.json").read_text())
    n_train = status.get("train_images") or len(load_split(args.data, targs["train_split"], str(run.parent / ".cache"))[1])
    x, y = load_split(args.data, "PublicTest", str(run.parent / ".cache"))
    xv = normalise(x)
    model.to(memory_format=torch.channels_last)  # as in training: NCHW depthwise convolutions are far slower on a CPU
    logits = predict_logits(model, xv, "cpu")
    flip = predict_logits(model, xv.flip(3), "cpu")
    flip_logits = flip_average(logits, flip)
    single = metrics(logits, y)
    tta = metrics(flip_logits, y)
    shipped_logits = flip_logits if args.tta == "flip" else logits
    print(f"PublicTest single-crop accuracy {single['accuracy']:.4f} macro-F1 {single['macroF1']:.4f}; "
          f"flip-TTA {tta['accuracy']:.4f} macro-F1 {tta['macroF1']:.4f}; the graph does {args.tta}")

    rows = list(csv.DictReader(open(run / "summary.csv")))
    argv = json.loads((run / "args.json").read_text()).get("argv", [])
    card = {
        "id": args.id,
        "task": "expression",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "license": "Apache-2.0",
        "architecture": targs["model"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "input": {"name": "input", "shape": ["batch", 1, 48, 48], "layout": "NCHW", "color": "gray",
                  "mean": MEAN, "std": STD, "resize": "area", "grayscale": "bt601", "tta": args.tta,
                  "note": "x' = (x - 127.5) / 127.5 for x in 0..255"
                          + ("; the graph also classifies the mirror image and averages the two softmaxes (flip TTA, "
                             "2x compute, included in every speed figure)" if args.tta == "flip" else "")},
        "output": {"name": "logits", "kind": "logits"},
        "labels": list(EXPRESSIONS),
        "trainedOn": (f"FER2013 {targs['train_split']}, {n_train} images (the sharp originals, 48x48 grayscale)"
                      + ("; the calibration hold-out (data.CALIBRATION_PERCENT) left out"
                         if targs.get("calibration_holdout") and targs["train_split"] == "Training" else "")
                      + (f"; initialised from {targs['init']}" if targs.get("init") else "")
                      + (f"; distilled from {targs['teacher']}" if targs.get("teacher") else "")
                      + (f"; smoke run on a {targs['limit']}-image subset" if targs.get("limit") else "")),
        "selectedOn": f"FER2013 {targs['val_split']} (best validation accuracy; also the reported split, so optimistic)",
        "metrics": ({"publicTest": single, "publicTestFlipTTA": tta,
                     "note": "PublicTest through the exported graph, single crop; flip-TTA separately. "
                             "The shipped graph does single crop."}
                    if args.tta == "none" else
                    {"publicTest": tta, "publicTestSingleCrop": single,
                     "note": "PublicTest through the exported graph (flip TTA included: what the shipped model "
                             "gives); the same network without the mirror image separately."})
                   | {"publicTestLabelSets": {k: projected_accuracy(shipped_logits.softmax(1), y, k) for k in LABEL_SETS}},
        "training": {
            "command": "cd training && /usr/bin/python3 -m ferkit_train.train " + " ".join(argv[1:]),
            "args": {k: v for k, v in targs.items() if k not in ("argv",)},
            "epochsRun": status["epoch"], "bestEpoch": status["best_epoch"],
            "trainMinutes": round(status["train_seconds"] / 60, 1), "device": targs.get("device"),
            "secondsPerEpoch": status.get("seconds_per_epoch") or round(status["train_seconds"] / max(status["epoch"], 1), 1),
            "machine": f"{os.cpu_count()} CPU cores" if targs.get("device") == "cpu" else targs.get("device"),
            "emaWeights": bool(ck.get("ema")),
            "torch": torch.__version__,
        },
    }
    card_path = models_dir / f"{args.id}.card.json"
    tmpc = card_path.with_suffix(".json.tmp")
    tmpc.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, onnx_path)
    os.replace(tmpc, card_path)

    write_parity_fixture(graph, args.id, card["sha256"], Path(args.fixtures))
    plot_curves(run)
    print(f"wrote {onnx_path} ({len(data)} bytes), {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
