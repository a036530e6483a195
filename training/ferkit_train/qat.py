"""Quantization-aware fine-tuning (QAT) of an exported float classifier, for the int8 graph ``quantize`` writes.

Post-training int8 (``ferkit_train.quantize``) costs the ``resnet_s`` networks 0.2–0.45 PublicTest points with flips
(``resnet_s_e160mix``: 69.94% float, 69.49% int8). This module fine-tunes the float graph's weights (BatchNorm already
folded into the convolutions by the export) *through* the int8 graph, so that the network learns to live with int8:

1. The activation ranges are calibrated exactly as ``quantize`` does (min/max over ``--calibration`` Training images,
   seeded, the calibration hold-out left out) and then **fixed**.
2. The forward pass is the QDQ graph ``quantize`` would write with those ranges: each activation ``QuantizeLinear`` →
   ``DequantizeLinear`` rounds and saturates to uint8 (the saturation at the zero point is also each folded ``Relu``),
   each ``Conv`` weight is rounded per output channel to the same 7-bit grid (±63 steps of ``max|w| / 63``) from the
   current float weights and each bias to int32 steps of input scale × weight scale; the last ``Gemm`` stays float. The backward pass lets each rounding through
   unchanged (the straight-through estimator; Bengio et al. 2013, Jacob et al. 2018) and stops at each saturation.
3. The loss is the training recipe's (label smoothing 0.1, class weights ``(N / (K n_k))^0.5``) mixed with
   distillation from the *float* graph averaged over the face and its mirror (``--kd-alpha``, ``--kd-temp``), on the
   recipe's augmented batches; AdamW with a cosine learning rate from ``--lr`` to 0 over ``--epochs``.
4. At the end the trained float weights go back into the float graph (``<out>/float.onnx``) and ``quantize`` turns it
   into the int8 graph with **the same fixed ranges**, so the shipped graph computes exactly what was trained.

Every epoch prints and appends to ``<out>/summary.csv`` the int8 accuracy on the calibration hold-out and on PublicTest,
single crop and with flips (``quantize``'s float simulation of the QDQ graph); ``<out>/last.pt`` resumes a killed run
at the next epoch (``--resume``). Model selection is not done on PublicTest: the last epoch is exported.

Example (from ``training/``; ~4–6 min per epoch on 2 cores)::

    /usr/bin/python3 -m ferkit_train.qat --model candidates/resnet-s-e210mix.onnx --data ../../shared/data/fer2013 \\
        --out runs/qat_e210mix --epochs 6 --lr 1e-4 --export runs/exports/resnet-s-e210mix-qat-int8.onnx

then ``ferkit_train.tta`` wraps the int8 graph in flips as for any other.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from . import EXPRESSIONS
from .augment import AugmentConfig, augment_batch
from .data import calibration_mask, class_weights, load_split, load_split_with_ids
from .export import flip_average, write_parity_fixture
from .onnx_teacher import _OPS, OnnxModule
from .quantize import W_QMAX, activation_ranges, int8_card, quantize
from .train import TeacherEnsemble, append_summary_row, mix_batch, normalise, save_atomic, soft_cross_entropy, write_json_atomic


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` in the forward pass, the identity in the backward pass (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """``quantize``'s per-output-channel scale of a Conv weight ``[C_out, …]``: ``max|w_c| / W_QMAX``, shape ``[C_out]``
    (not differentiated)."""
    return w.detach().abs().flatten(1).amax(1).clamp_min(1e-12) / W_QMAX


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """A Conv weight ``[C_out, C_in/g, kH, kW]`` rounded to ``quantize``'s grid: symmetric per output channel, ±``W_QMAX``
    steps of :func:`weight_scale` (the rounding straight through)."""
    scale = weight_scale(w).view(-1, *[1] * (w.dim() - 1))
    return torch.clamp(round_ste(w / scale), -W_QMAX, W_QMAX) * scale


def fake_quant_bias(b: torch.Tensor, w: torch.Tensor, input_scale: torch.Tensor) -> torch.Tensor:
    """A Conv bias ``[C_out]`` rounded to int32 steps of ``input scale × weight scale`` (what ``quantize`` writes for
    ``QLinearConv``; the rounding straight through)."""
    scale = input_scale.float() * weight_scale(w)
    return round_ste(b / scale) * scale


def _quantize_ste(t, a):
    """``QuantizeLinear`` (per tensor) with the rounding straight through; the clamp's gradient is 0 outside the range."""
    lo, hi = (0, 255) if t[2].dtype == torch.uint8 else (-128, 127)
    return torch.clamp(round_ste(t[0] / t[1].float()) + t[2].float(), lo, hi)


class QatGraph(nn.Module):
    """The int8 QDQ graph of a float classifier graph, trainable: input ``[N, 1, 48, 48]`` NCHW float32 in [-1, 1],
    output logits ``[N, 7]``. Parameters are the float graph's ``Conv`` and ``Gemm`` weights and biases (BatchNorm
    folded); ``ranges`` (activation tensor name → (lo, hi)) are fixed. ``int8`` is ``quantize``'s graph of the starting
    weights (what this module computes before training); ``float_model()`` returns the float graph with the current
    weights, which ``quantize(…, ranges)`` turns into the int8 graph this module computes."""

    def __init__(self, float_model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]):
        super().__init__()
        self.source = float_model
        self.ranges = dict(ranges)
        q = self.int8 = quantize(onnx.ModelProto.FromString(float_model.SerializeToString()), dict(ranges))
        inits = {i.name: i for i in float_model.graph.initializer}
        trained: set[str] = set()
        for n in float_model.graph.node:
            if n.op_type in ("Conv", "Gemm"):
                trained.update(i for i in n.input[1:] if i in inits)
        self.key = {name: f"p{i}" for i, name in enumerate(sorted(trained))}
        self.params = nn.ParameterDict({self.key[name]: nn.Parameter(torch.from_numpy(numpy_helper.to_array(inits[name]).astype(np.float32).copy()))
                                        for name in sorted(trained)})
        self.consts = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in q.graph.initializer
                       if i.name not in trained}
        self.conv_weights = {n.input[1] for n in float_model.graph.node if n.op_type == "Conv"}
        # each Conv bias: (its weight, the scale initializer of the Conv's quantized input), for its int32 grid
        self.conv_bias = {}
        for n in q.graph.node:
            if n.op_type == "Conv" and len(n.input) > 2 and n.input[2]:
                act = n.input[0][:-len("_dequantized")]
                self.conv_bias[n.input[2][:-len("_dequantized")]] = (n.input[1][:-len("_dequantized")], f"{act}_scale")
        self.nodes = [(n.op_type, list(n.input), list(n.output), {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
                      for n in q.graph.node]
        self.input_name, self.output_name = q.graph.input[0].name, q.graph.output[0].name

    def _tensor(self, env: dict, name: str) -> torch.Tensor:
        if name in env:
            return env[name]
        if name in self.key:
            return self.params[self.key[name]]
        return self.consts[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x.contiguous()}
        for op, ins, outs, attrs in self.nodes:
            if op == "DequantizeLinear" and ins[0].endswith("_quantized") and ins[0][:-len("_quantized")] in self.key:
                name = ins[0][:-len("_quantized")]  # a weight or bias: computed from the trained float value
                p = self.params[self.key[name]]
                if name in self.conv_weights:
                    env[outs[0]] = fake_quant_weight(p)
                elif name in self.conv_bias:
                    w, s = self.conv_bias[name]
                    env[outs[0]] = fake_quant_bias(p, self.params[self.key[w]], self.consts[s])
                else:
                    env[outs[0]] = p
                continue
            t = [self._tensor(env, i) if i else None for i in ins]
            env[outs[0]] = _quantize_ste(t, attrs) if op == "QuantizeLinear" else _OPS[op](t, attrs)
        return env[self.output_name]

    def float_model(self) -> onnx.ModelProto:
        """The source float graph with the current (trained) weights."""
        m = onnx.ModelProto.FromString(self.source.SerializeToString())
        for init in m.graph.initializer:
            if init.name in self.key:
                init.CopyFrom(numpy_helper.from_array(self.params[self.key[init.name]].detach().numpy().astype(np.float32), init.name))
        return m


@torch.no_grad()
def accuracies(model: nn.Module, xv: torch.Tensor, y: np.ndarray, batch: int = 512) -> tuple[float, float]:
    """(single-crop, flip-averaged) accuracy of ``model`` on normalised images ``xv`` ``[N, 1, 48, 48]``."""
    model.eval()
    a = torch.cat([model(xv[i:i + batch]) for i in range(0, len(xv), batch)])
    b = torch.cat([model(xv[i:i + batch].flip(3)) for i in range(0, len(xv), batch)])
    return float((a.argmax(1).numpy() == y).mean()), float((flip_average(a, b).argmax(1).numpy() == y).mean())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Details: the module docstring (python3 -c 'import ferkit_train.qat as q; help(q)').")
    p.add_argument("--model", required=True, help="float classifier .onnx (its .card.json beside it), e.g. an export")
    p.add_argument("--data", required=True, help="FER2013 root (Training/, PublicTest/ folders) or fer2013.csv")
    p.add_argument("--out", required=True, help="run folder: summary.csv, last.pt, float.onnx")
    p.add_argument("--export", default=None, help="int8 .onnx to write at the end (card beside it; default <out>/int8.onnx)")
    p.add_argument("--id", default=None, help="id of the int8 model (default: the float model's id + '-qat-int8')")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW peak learning rate, cosine to 0 (no warm-up)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--kd-alpha", type=float, default=0.7, help="weight of distillation from the float graph with flips")
    p.add_argument("--kd-temp", type=float, default=4.0)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weight-power", type=float, default=0.5)
    p.add_argument("--mixup", type=float, default=0.0, help="probability of a mixup/CutMix batch (alternating)")
    p.add_argument("--mixup-alpha", type=float, default=0.4)
    p.add_argument("--calibration", type=int, default=1000, help="Training images for the (fixed) activation ranges")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="use only N random training images (smoke runs)")
    p.add_argument("--cache", default=None, help="decoded-image cache folder (default <out>/../.cache)")
    p.add_argument("--fixtures", default="../test/fixtures", help="folder for the int8 graph's <id>.parity.json")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt at the next epoch")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cache = args.cache or str(out.parent / ".cache")
    card_src = Path(args.model).with_suffix(".card.json")
    if not card_src.exists():
        raise SystemExit(f"{args.model}: no model card beside it ({card_src})")
    scard = json.loads(card_src.read_text())  # the starting float graph's card

    x_all, y_all, ids = load_split_with_ids(args.data, "Training", cache)
    hold = calibration_mask(ids)
    x_tr, y_tr = x_all[~hold], y_all[~hold]
    x_ho, y_ho = x_all[hold], y_all[hold]
    x_pt, y_pt = load_split(args.data, "PublicTest", cache)
    pool = np.flatnonzero(~hold)
    pick = np.random.default_rng(args.seed).choice(pool, size=min(args.calibration, len(pool)), replace=False)
    if args.limit:
        rng = np.random.default_rng(args.seed)
        keep = rng.permutation(len(y_tr))[:args.limit]
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        x_ho, y_ho = x_ho[:max(args.limit // 4, 64)], y_ho[:max(args.limit // 4, 64)]
        x_pt, y_pt = x_pt[:max(args.limit // 4, 64)], y_pt[:max(args.limit // 4, 64)]

    src = onnx.load(args.model)
    ranges = activation_ranges(OnnxModule(src), normalise(x_all[np.sort(pick)]), "minmax")
    model = QatGraph(src, ranges)
    reference = OnnxModule(model.int8).eval()
    probe = normalise(x_pt[:64])
    with torch.no_grad():
        gap = float((model.eval()(probe) - reference(probe)).abs().max())
    print(f"{args.model}: {len(model.params)} trained tensors, {sum(p.numel() for p in model.params.values())} weights; "
          f"QAT graph vs quantize's int8 graph: max |logit difference| {gap:.2e}", flush=True)
    teacher = TeacherEnsemble([OnnxModule(src).eval()], flip=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    weights = torch.tensor(class_weights(y_tr, args.class_weight_power)) if args.class_weight_power > 0 else None
    aug = AugmentConfig()
    gen = torch.Generator().manual_seed(args.seed)
    steps = (len(y_tr) + args.batch_size - 1) // args.batch_size
    start_epoch, seconds = 0, 0.0
    if args.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", weights_only=False)
        if ck["ranges"] != ranges:
            raise SystemExit(f"{out / 'last.pt'}: calibrated with other activation ranges (another --model, --calibration or --seed)")
        model.params.load_state_dict(ck["params"]); opt.load_state_dict(ck["opt"]); gen.set_state(ck["gen"])
        start_epoch, seconds = ck["epoch"], ck["seconds"]
        print(f"resumed after epoch {start_epoch}", flush=True)
    elif (out / "summary.csv").exists():
        (out / "summary.csv").unlink()
    write_json_atomic({**vars(args), "argv": sys.argv}, out / "args.json")

    xh, xp = normalise(x_ho), normalise(x_pt)
    if start_epoch == 0:
        h0, p0 = accuracies(model, xh, y_ho), accuracies(model, xp, y_pt)
        print(f"epoch 0 (post-training int8): hold-out {h0[0]:.4f} / flip {h0[1]:.4f}; PublicTest {p0[0]:.4f} / flip {p0[1]:.4f}", flush=True)
    x_t, y_t = torch.as_tensor(x_tr), torch.as_tensor(y_tr)
    k = len(EXPRESSIONS)
    for epoch in range(start_epoch + 1, args.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(y_t), generator=gen)
        tot = [0.0, 0]
        for step in range(steps):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            xb = augment_batch(normalise(x_t[idx]), aug, gen)
            yb = y_t[idx]
            target = F.one_hot(yb, k).float()
            if args.mixup > 0 and float(torch.rand(1, generator=gen)) < args.mixup:
                xb, target = mix_batch(xb, yb, k, args.mixup_alpha, cutmix=bool(step % 2), gen=gen)
            lr = args.lr * 0.5 * (1 + np.cos(np.pi * ((epoch - 1) + step / steps) / args.epochs))
            for g in opt.param_groups:
                g["lr"] = float(lr)
            logits = model(xb)
            t_logits = teacher(xb)
            tt = args.kd_temp
            kd = F.kl_div((logits / tt).log_softmax(1), (t_logits / tt).softmax(1), reduction="batchmean") * tt * tt
            loss = (1 - args.kd_alpha) * soft_cross_entropy(logits, target, weights, args.label_smoothing) + args.kd_alpha * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot[0] += loss.item() * len(yb)
            tot[1] += len(yb)
        dt = time.time() - t0
        seconds += dt
        h, pt = accuracies(model, xh, y_ho), accuracies(model, xp, y_pt)
        row = {"epoch": epoch, "lr_end": f"{lr:.2e}", "train_loss": f"{tot[0] / tot[1]:.4f}",
               "holdout": f"{h[0]:.4f}", "holdout_flip": f"{h[1]:.4f}", "publictest": f"{pt[0]:.4f}",
               "publictest_flip": f"{pt[1]:.4f}", "seconds": f"{dt:.1f}"}
        append_summary_row(out / "summary.csv", row)
        print(" ".join(f"{kk}={v}" for kk, v in row.items()), flush=True)
        save_atomic({"params": model.params.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                     "epoch": epoch, "seconds": seconds, "ranges": ranges, "args": vars(args)}, out / "last.pt")

    # The trained float graph (with a card: the int8 card is built from it) and its int8 graph with the fixed ranges.
    fmodel = model.float_model()
    fdata = fmodel.SerializeToString()
    fpath = out / "float.onnx"
    fcard = dict(scard)
    fcard.update(id=f"{scard['id']}-qat-float", sha256=hashlib.sha256(fdata).hexdigest(), bytes=len(fdata))
    tmp = fpath.with_suffix(".tmp")
    tmp.write_bytes(fdata)
    os.replace(tmp, fpath)
    write_json_atomic(fcard, fpath.with_suffix(".card.json"))
    q = quantize(onnx.ModelProto.FromString(fdata), dict(ranges))
    data = q.SerializeToString()
    graph = OnnxModule(q).eval()
    qargs = argparse.Namespace(data=args.data, cache=cache, id=args.id or f"{scard['id']}-qat-int8", range="minmax",
                               calibration=args.calibration, seed=args.seed)
    card = int8_card(fpath, data, graph, qargs)
    card["quantization"]["floatModel"] = {"id": scard["id"], "sha256": scard["sha256"],
                                          "publicTestAccuracy": scard["metrics"]["publicTest"]["accuracy"]}
    card["quantization"]["qat"] = {
        "method": "quantization-aware fine-tuning through this QDQ graph (straight-through rounding; activation ranges "
                  "fixed from the calibration images; loss: label-smoothed, class-weighted cross-entropy + distillation "
                  "from the float graph with flips)",
        "epochs": args.epochs, "lr": args.lr, "kdAlpha": args.kd_alpha, "kdTemp": args.kd_temp, "mixup": args.mixup,
        "minutes": round(seconds / 60, 1), "trainImages": int(len(y_tr)),
        "command": "cd training && /usr/bin/python3 -m ferkit_train.qat " + " ".join(sys.argv[1:] if argv is None else argv)}
    card["quantization"]["command"] = card["quantization"]["qat"]["command"]
    dest = Path(args.export) if args.export else out / "int8.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    write_json_atomic(card, dest.with_suffix(".card.json"))
    write_parity_fixture(graph, card["id"], card["sha256"], Path(args.fixtures))
    print(f"wrote {dest} ({len(data)} bytes) and {fpath}; QAT {seconds / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
