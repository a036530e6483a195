"""Train an expression CNN on FER2013 and keep the best checkpoint.

Example (the default model; the plan and timings are in ``training/README.md``)::

    /usr/bin/python3 -m ferkit_train.train --data ../../shared/data/fer2013 --model vgg \
        --out runs/vgg --schedule cosine --epochs 40 --ema 0.999

Each run directory holds ``args.json`` (resolved arguments), ``summary.csv`` (one row per epoch, with seconds per
epoch), ``last.pt`` (resume point: written atomically every epoch *and* every ``--checkpoint-seconds`` inside an
epoch, so a killed run loses at most that much work), ``best.pt`` (weights with the best validation accuracy; the
EMA weights when ``--ema`` is on) and ``status.json`` (where the run stands and the command that resumes it).
``--resume`` continues from ``last.pt`` at the batch where it stopped.

Knowledge distillation: ``--teacher runs/big/best.pt`` adds ``kd_alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))``
to the loss (Hinton et al. 2015); the teacher sees the same augmented batch. ``--teacher a.onnx,b.onnx`` averages the
logits of several teachers (an ensemble), ``--teacher-flip`` also averages each teacher over the horizontally flipped
input, and ``--teacher-offline`` computes those logits once on the un-augmented training images (written to
``<out>/teacher_logits.npy``) instead of on every augmented batch: an ensemble with flips costs 4 teacher passes per
image per epoch online, and nothing per epoch offline.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import EXPRESSIONS
from .augment import AugmentConfig, augment_batch
from .data import calibration_mask, class_weights, load_split, load_split_with_ids
from .models import create_model, list_models, memory_format

MEAN, STD = 127.5, 127.5  # input normalisation in 0-255 units: x' = (x - 127.5) / 127.5, range [-1, 1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help="FER2013 root with Training/ and PublicTest/ folders, or fer2013.csv")
    d.add_argument("--train-split", default="Training")
    d.add_argument("--val-split", default="PublicTest",
                   help="split used for model selection, LR plateau and early stopping; 'holdout:0.1' carves 10%% "
                        "of the training split instead (stratified, seeded)")
    d.add_argument("--calibration-holdout", type=int, choices=[0, 1], default=1,
                   help="1 (default): leave out the calibration hold-out of Training (data.CALIBRATION_PERCENT, ~7%%), "
                        "on which `ferkit calibrate` fits the temperature; 0: train on all of Training")
    d.add_argument("--limit", type=int, default=0, help="use only N random training images (smoke runs)")
    d.add_argument("--cache", default=None, help="folder for decoded .npz caches (default: <out>/../.cache)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="ferkit_lite", choices=list_models())
    m.add_argument("--init", default=None,
                   help="start from the weights of this best.pt, or of a float classifier .onnx such as a shipped "
                        "model (same --model; e.g. to distil an ensemble into one of its members) instead of a random "
                        "initialisation; ignored with --resume")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=80)
    o.add_argument("--batch-size", type=int, default=128)
    o.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw", help="sgd = SGD with Nesterov momentum 0.9")
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--label-smoothing", type=float, default=0.1)
    o.add_argument("--class-weight-power", type=float, default=0.5,
                   help="class weights (N/(K*n_k))**power in the loss; 0 disables, 1 is fully balanced")
    o.add_argument("--schedule", choices=["plateau", "cosine", "onecycle"], default="cosine",
                   help="cosine: warm-up then cosine decay to 0 over --epochs; onecycle: linear ramp over 30%% then "
                        "cosine; plateau: x0.3 after --plateau-patience epochs without improvement")
    o.add_argument("--plateau-patience", type=int, default=4, help="epochs without improvement before LR x0.3")
    o.add_argument("--early-stop", type=int, default=0, help="stop after this many epochs without improvement (0 = never)")
    o.add_argument("--warmup-epochs", type=float, default=1)
    o.add_argument("--ema", type=float, default=0.0, help="exponential moving average of the weights (e.g. 0.999); 0 = off")
    o.add_argument("--mixup", type=float, default=0.0, help="probability of a mixup/cutmix batch (alternating); 0 = off")
    o.add_argument("--mixup-alpha", type=float, default=0.4, help="Beta(alpha, alpha) for the mixing weight")
    o.add_argument("--teacher", default=None,
                   help="best.pt of a trained teacher run, or a shipped .onnx classifier: distil from it; "
                        "several, comma-separated, are an ensemble (their logits averaged)")
    o.add_argument("--teacher-flip", action="store_true", help="average each teacher's logits over the input and its mirror")
    o.add_argument("--teacher-offline", action="store_true",
                   help="teacher logits computed once on the un-augmented training images, not per augmented batch")
    o.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation term (the rest: hard labels)")
    o.add_argument("--kd-temp", type=float, default=4.0, help="distillation temperature T")
    a = p.add_argument_group("augmentation")
    for k, v in asdict(AugmentConfig()).items():
        if isinstance(v, tuple):
            continue
        a.add_argument(f"--aug-{k.replace('_', '-')}", type=type(v) if not isinstance(v, bool) else int, default=v)
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run directory")
    r.add_argument("--resume", action="store_true", help="continue from <out>/last.pt (to the batch)")
    r.add_argument("--checkpoint-seconds", type=float, default=120, help="also write last.pt this often inside an epoch")
    r.add_argument("--stop-after-steps", type=int, default=0, help=argparse.SUPPRESS)  # tests: simulate a kill mid-epoch
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    r.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def normalise(x_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 48, 48]`` -> float32 NCHW ``[N, 1, 48, 48]`` in [-1, 1]."""
    x = torch.as_tensor(x_uint8).float()
    return ((x - MEAN) / STD).unsqueeze(1)


def holdout_split(y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    val = []
    for k in range(len(EXPRESSIONS)):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        val.extend(idx[: int(round(len(idx) * frac))])
    mask = np.zeros(len(y), bool)
    mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, device: str, batch: int = 512, tta_flip: bool = False,
                   fmt: torch.memory_format = torch.channels_last) -> torch.Tensor:
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(device).contiguous(memory_format=fmt)
        logits = model(xb)
        if tta_flip:
            logits = (logits.softmax(1) + model(xb.flip(3)).softmax(1)).log()
        outs.append(logits.float().cpu())
    return torch.cat(outs)


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def append_summary_row(path: Path, row: dict) -> None:
    """Appends one epoch's ``row`` to the CSV ``path`` (``summary.csv``), with a header line when the file is new."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def learning_rate(args: argparse.Namespace, state: dict, epoch_progress: float) -> float:
    """LR at ``epoch_progress`` epochs from the start (fractional)."""
    if args.schedule == "onecycle":
        t = epoch_progress / args.epochs
        peak = 0.3
        if t < peak:
            return args.lr * (0.04 + 0.96 * t / peak)
        return args.lr * 0.5 * (1 + np.cos(np.pi * (t - peak) / (1 - peak)))
    if args.schedule == "cosine":
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * epoch_progress / args.epochs))
    else:
        lr = args.lr * state["lr_scale"]
    if epoch_progress < args.warmup_epochs:
        lr *= (epoch_progress + 1e-3) / args.warmup_epochs
    return float(lr)


class EMA:
    """Exponential moving average of parameters and buffers (BN statistics copied)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # warm start: follow the model closely at first
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)


def mix_batch(xb: torch.Tensor, yb: torch.Tensor, k: int, alpha: float, cutmix: bool, gen: torch.Generator):
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019). Returns inputs and soft targets ``[N, k]``."""
    n = xb.shape[0]
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 0.5
    perm = torch.randperm(n, generator=gen)
    y1 = F.one_hot(yb, k).float()
    if cutmix:
        h, w = xb.shape[2:]
        ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
        y0, y1b, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
        xb = xb.clone()
        xb[:, :, y0:y1b, x0:x1] = xb[perm][:, :, y0:y1b, x0:x1]
        lam = 1 - (y1b - y0) * (x1 - x0) / (h * w)
    else:
        xb = lam * xb + (1 - lam) * xb[perm]
    return xb, lam * y1 + (1 - lam) * y1[perm]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, smoothing: float) -> torch.Tensor:
    k = logits.shape[1]
    target = target * (1 - smoothing) + smoothing / k
    loss = -(target * logits.log_softmax(1))
    if weight is not None:
        loss = loss * weight.view(1, k)
    return loss.sum(1).mean()


def load_teacher(path: str, device: str) -> torch.nn.Module:
    if path.endswith(".onnx"):  # a shipped model whose checkpoint is gone: run its graph (BatchNorm folded) in torch
        from .onnx_teacher import OnnxModule
        return OnnxModule(path).to(device).eval()
    ck = torch.load(path, map_location=device)
    teacher = create_model(ck["args"]["model"])
    teacher.load_state_dict(ck["model"])
    return teacher.to(device).eval().to(memory_format=memory_format(ck["args"]["model"]))


class TeacherEnsemble(torch.nn.Module):
    """Frozen teachers whose logits ``[N, 7]`` are averaged (over the models and, with ``flip``, over the input and its
    horizontal mirror); input ``[N, 1, 48, 48]`` NCHW normalised like the student's."""

    def __init__(self, teachers: list[torch.nn.Module], flip: bool):
        super().__init__()
        self.teachers = torch.nn.ModuleList(teachers)
        self.flip = flip

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x, x.flip(3)] if self.flip else [x]
        outs = [t(v) for t in self.teachers for v in views]
        return torch.stack(outs).mean(0)


def offline_teacher_logits(teacher: torch.nn.Module, x_uint8: np.ndarray, path: Path, device: str, key: dict) -> torch.Tensor:
    """Teacher logits ``[N, 7]`` float32 of the un-augmented images ``x_uint8`` ``[N, 48, 48]``, cached in ``path`` with
    ``key`` (the teachers' file hashes, the flip flag and a hash of the images) beside it in ``<path>.json``: a cache
    made for other teachers or other images is recomputed, never reused."""
    key = {**key, "images": hashlib.sha256(np.ascontiguousarray(x_uint8).tobytes()).hexdigest(), "n": int(len(x_uint8))}
    key_path = path.with_suffix(".json")
    if path.exists() and key_path.exists() and json.loads(key_path.read_text()) == key:
        return torch.from_numpy(np.load(path))
    t0 = time.time()
    out = torch.cat([teacher(normalise(x_uint8[i:i + 512]).to(device)).cpu() for i in range(0, len(x_uint8), 512)])
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out.numpy().astype(np.float32))
    os.replace(tmp, path)
    write_json_atomic(key, key_path)
    print(f"teacher logits for {len(out)} images in {time.time() - t0:.0f} s -> {path}", flush=True)
    return out


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    random.seed(args.seed); np.random.seed(args.seed); torch.manual_seed(args.seed)
    cache = args.cache or str(out.parent / ".cache")

    x_tr, y_tr, ids_tr = load_split_with_ids(args.data, args.train_split, cache)
    if args.calibration_holdout and args.train_split == "Training":
        keep = ~calibration_mask(ids_tr)
        print(f"calibration hold-out: {int((~keep).sum())} of {len(keep)} Training images left out", flush=True)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if args.val_split.startswith("holdout:"):
        tr_idx, va_idx = holdout_split(y_tr, float(args.val_split.split(":")[1]), args.seed)
        x_va, y_va = x_tr[va_idx], y_tr[va_idx]
        x_tr, y_tr = x_tr[tr_idx], y_tr[tr_idx]
    else:
        x_va, y_va = load_split(args.data, args.val_split, cache)
    if args.limit:  # a seeded random subset: the folders are sorted by class
        rng = np.random.default_rng(args.seed)
        keep = rng.permutation(len(y_tr))[: args.limit]
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        keep = rng.permutation(len(y_va))[: max(args.limit // 4, 64)]
        x_va, y_va = x_va[keep], y_va[keep]
    print(f"train {len(y_tr)} images, val {len(y_va)} ({args.val_split}); model {args.model}; device {args.device}", flush=True)

    fmt = memory_format(args.model)
    model = create_model(args.model).to(args.device).to(memory_format=fmt)
    if args.init and not args.resume and args.init.endswith(".onnx"):
        from .onnx_init import init_from_onnx  # onnx is only needed here
        sample = np.random.default_rng(args.seed).permutation(len(y_tr))[:1024]
        init_from_onnx(model, args.init, normalise(x_tr[sample]).to(args.device).to(memory_format=fmt))
        model.train()
        print(f"initialised from {args.init} (BatchNorm statistics rebuilt from {len(sample)} training images)", flush=True)
    elif args.init and not args.resume:
        ck = torch.load(args.init, map_location=args.device)
        if ck["args"]["model"] != args.model:
            raise SystemExit(f"--init {args.init}: its model is {ck['args']['model']}, not {args.model}")
        model.load_state_dict(ck["model"])
        print(f"initialised from {args.init} (epoch {ck.get('epoch')}, val acc {ck.get('val_acc')})", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    weights = torch.tensor(class_weights(y_tr, args.class_weight_power)) if args.class_weight_power > 0 else None
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    ema = EMA(model, args.ema) if args.ema > 0 else None
    teacher = None
    if args.teacher:
        teacher = TeacherEnsemble([load_teacher(t, args.device) for t in args.teacher.split(",")], args.teacher_flip)
    elif args.teacher_flip or args.teacher_offline:
        raise SystemExit("--teacher-flip and --teacher-offline need --teacher")
    if args.teacher_offline and args.mixup > 0:
        raise SystemExit("--teacher-offline cannot be combined with --mixup (the mixed images have no precomputed logits)")
    t_logits_tr = None
    if args.teacher_offline:
        key = {"teachers": [file_sha256(t) for t in args.teacher.split(",")], "flip": bool(args.teacher_flip)}
        t_logits_tr = offline_teacher_logits(teacher, x_tr, out / "teacher_logits.npy", args.device, key)
    steps_per_epoch = (len(y_tr) + args.batch_size - 1) // args.batch_size
    aug = AugmentConfig(**{k: (bool(getattr(args, f"aug_{k}")) if isinstance(v, bool) else getattr(args, f"aug_{k}"))
                           for k, v in asdict(AugmentConfig()).items() if not isinstance(v, tuple)})

    state = {"epoch": 0, "step": 0, "global_step": 0, "best_acc": -1.0, "best_epoch": 0, "lr_scale": 1.0,
             "since_best": 0, "since_lr": 0, "train_seconds": 0.0, "epoch_seconds": 0.0,
             "tot": [0.0, 0, 0]}
    gen = torch.Generator().manual_seed(args.seed)
    perm = None
    if args.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location=args.device, weights_only=False)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); state.update(ck["state"])
        if ema is not None and ck.get("ema") is not None:
            ema.model.load_state_dict(ck["ema"])
        torch.set_rng_state(ck["rng"])
        if "gen" in ck:
            gen.set_state(ck["gen"])
        perm = ck.get("perm")
        print(f"resumed at epoch {state['epoch']} step {state['step']}/{steps_per_epoch} "
              f"(best {state['best_acc']:.4f} at {state['best_epoch']})", flush=True)
    elif (out / "summary.csv").exists():
        (out / "summary.csv").unlink()
    write_json_atomic({**vars(args), "argv": sys.argv, "params": n_params}, out / "args.json")

    def checkpoint() -> None:
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                     "ema": ema.model.state_dict() if ema else None, "rng": torch.get_rng_state(),
                     "gen": gen.get_state(), "perm": perm, "args": vars(args)}, out / "last.pt")

    xv = normalise(x_va)
    x_tr_t = torch.as_tensor(x_tr)
    y_tr_t = torch.as_tensor(y_tr)
    loss_w = weights.to(args.device) if weights is not None else None
    k = len(EXPRESSIONS)

    while state["epoch"] < args.epochs:
        epoch = state["epoch"] + 1
        last_ck = time.time()  # start of the part of this epoch not yet counted in state["epoch_seconds"]
        model.train()
        if perm is None or state["step"] == 0:
            perm = torch.randperm(len(y_tr_t), generator=gen)
        lr = 0.0
        while state["step"] < steps_per_epoch:
            step = state["step"]
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            xb = augment_batch(normalise(x_tr_t[idx]).to(args.device), aug, gen)
            yb = y_tr_t[idx]
            target = F.one_hot(yb, k).float()
            if args.mixup > 0 and float(torch.rand(1, generator=gen)) < args.mixup:
                xb, target = mix_batch(xb.cpu(), yb, k, args.mixup_alpha, cutmix=bool(state["global_step"] % 2), gen=gen)
            xb = xb.to(args.device).contiguous(memory_format=fmt)
            yb, target = yb.to(args.device), target.to(args.device)
            lr = learning_rate(args, state, state["epoch"] + step / steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(xb)
            loss = soft_cross_entropy(logits, target, loss_w, args.label_smoothing)
            if teacher is not None:
                t_logits = t_logits_tr[idx].to(args.device) if t_logits_tr is not None else teacher(xb)  # no grad
                tt = args.kd_temp
                kd = F.kl_div((logits / tt).log_softmax(1), (t_logits / tt).softmax(1), reduction="batchmean") * tt * tt
                loss = (1 - args.kd_alpha) * loss + args.kd_alpha * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(model, state["global_step"])
            state["tot"][0] += loss.item() * len(yb)
            state["tot"][1] += int((logits.argmax(1) == yb).sum().item())
            state["tot"][2] += len(yb)
            state["step"] += 1
            state["global_step"] += 1
            now = time.time()
            if args.stop_after_steps and state["global_step"] >= args.stop_after_steps:
                checkpoint()  # what a periodic checkpoint would have saved, then stop as if killed
                print(f"stopped after {state['global_step']} steps (epoch {epoch}, step {state['step']})", flush=True)
                return 3
            if now - last_ck >= args.checkpoint_seconds and state["step"] < steps_per_epoch:
                state["epoch_seconds"] += now - last_ck  # seconds of this epoch already saved in a checkpoint
                last_ck = now
                checkpoint()
        eval_model = ema.model if ema is not None else model
        logits_va = predict_logits(eval_model, xv, args.device, fmt=fmt)
        val_loss = F.cross_entropy(logits_va, torch.as_tensor(y_va)).item()
        val_acc = (logits_va.argmax(1).numpy() == y_va).mean()
        dt = state["epoch_seconds"] + (time.time() - last_ck)
        tot_loss, tot_correct, tot_n = state["tot"]
        state.update(train_seconds=state["train_seconds"] + dt, epoch=epoch, step=0, epoch_seconds=0.0, tot=[0.0, 0, 0])
        improved = val_acc > state["best_acc"]
        if improved:
            state.update(best_acc=float(val_acc), best_epoch=epoch, since_best=0, since_lr=0)
            save_atomic({"model": eval_model.state_dict(), "args": vars(args), "epoch": epoch, "val_acc": float(val_acc),
                         "params": n_params, "ema": bool(ema)}, out / "best.pt")
        else:
            state["since_best"] += 1
            state["since_lr"] += 1
            if args.schedule == "plateau" and state["since_lr"] >= args.plateau_patience:
                state["lr_scale"] *= 0.3
                state["since_lr"] = 0
                print(f"  plateau: lr -> {args.lr * state['lr_scale']:.2e}", flush=True)
        row = {"epoch": epoch, "lr": f"{lr:.3e}", "train_loss": f"{tot_loss / max(tot_n, 1):.4f}",
               "train_acc": f"{tot_correct / max(tot_n, 1):.4f}", "val_loss": f"{val_loss:.4f}", "val_acc": f"{val_acc:.4f}",
               "best_acc": f"{state['best_acc']:.4f}", "seconds": f"{dt:.1f}"}
        append_summary_row(out / "summary.csv", row)
        print(" ".join(f"{k}={v}" for k, v in row.items()) + (" *" if improved else ""), flush=True)
        perm = None
        checkpoint()
        stop = bool(args.early_stop) and state["since_best"] >= args.early_stop
        resume_argv = [a for a in sys.argv[1:] if a != "--resume"]
        write_json_atomic({"epoch": epoch, "of": args.epochs, "train_images": int(len(y_tr)), "val_images": int(len(y_va)),
                           "best_acc": state["best_acc"], "best_epoch": state["best_epoch"],
                           "train_seconds": round(state["train_seconds"], 1),
                           "seconds_per_epoch": round(state["train_seconds"] / epoch, 1),
                           "finished": stop or epoch >= args.epochs,
                           "resume": f"/usr/bin/python3 -m ferkit_train.train {' '.join(resume_argv)} --resume"},
                          out / "status.json")
        if stop:
            print(f"early stop: no improvement for {args.early_stop} epochs", flush=True)
            break
    print(f"best val acc {state['best_acc']:.4f} at epoch {state['best_epoch']}; "
          f"train time {state['train_seconds'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
