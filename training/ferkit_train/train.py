"""Train an expression CNN on FER2013 and keep the best checkpoint.

Example (the default lite model; see ``training/README.md``)::

    /usr/bin/python3 -m ferkit_train.train --data ../../shared/data/fer2013 --model ferkit_lite \
        --out runs/ferkit_lite

Each run directory holds ``args.json`` (resolved arguments), ``summary.csv`` (one row per epoch),
``last.pt`` (resume point, written atomically every epoch), ``best.pt`` (best validation accuracy)
and ``status.json`` (where the run stands). ``--resume`` continues from ``last.pt``.
"""
from __future__ import annotations

import argparse
import csv
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
from .blur import gaussian_blur
from .data import class_weights, load_split
from .models import create_model, list_models

MEAN, STD = 127.5, 127.5  # input normalisation in 0-255 units: x' = (x - 127.5) / 127.5, range [-1, 1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help="FER2013 root with Training/ and PublicTest/ folders, or fer2013.csv")
    d.add_argument("--train-split", default="Training")
    d.add_argument("--val-split", default="PublicTest",
                   help="split used for model selection, LR plateau and early stopping; 'holdout:0.1' carves 10%% "
                        "of the training split instead (stratified, seeded)")
    d.add_argument("--val-blur", type=float, default=3.0,
                   help="Gaussian sigma (px) applied to validation images: the shipped Training split is blurred "
                        "(sigma ~3) and PublicTest is sharp, so validation sees what inference will see (0 = off)")
    d.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    d.add_argument("--cache", default=None, help="folder for decoded .npz caches (default: <out>/../.cache)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="ferkit_lite", choices=list_models())
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=80)
    o.add_argument("--batch-size", type=int, default=128)
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--label-smoothing", type=float, default=0.1)
    o.add_argument("--class-weight-power", type=float, default=0.5,
                   help="class weights (N/(K*n_k))**power in the loss; 0 disables, 1 is fully balanced")
    o.add_argument("--schedule", choices=["plateau", "cosine"], default="plateau")
    o.add_argument("--plateau-patience", type=int, default=4, help="epochs without improvement before LR x0.3")
    o.add_argument("--early-stop", type=int, default=12, help="stop after this many epochs without improvement")
    o.add_argument("--warmup-epochs", type=int, default=1)
    a = p.add_argument_group("augmentation")
    for k, v in asdict(AugmentConfig()).items():
        if isinstance(v, tuple):
            continue
        a.add_argument(f"--aug-{k.replace('_', '-')}", type=type(v) if not isinstance(v, bool) else int, default=v)
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run directory")
    r.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    r.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def normalise(x_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
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
def predict_logits(model: torch.nn.Module, x: torch.Tensor, device: str, batch: int = 512, tta_flip: bool = False) -> torch.Tensor:
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(device)
        logits = model(xb)
        if tta_flip:
            logits = (logits.softmax(1) + model(xb.flip(3)).softmax(1)).log()
        outs.append(logits.cpu())
    return torch.cat(outs)


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    random.seed(args.seed); np.random.seed(args.seed); torch.manual_seed(args.seed)
    cache = args.cache or str(out.parent / ".cache")

    x_tr, y_tr = load_split(args.data, args.train_split, cache)
    if args.val_split.startswith("holdout:"):
        # held-out Training images already carry the Training split's blur: never blur them again
        if args.val_blur:
            print(f"note: --val-blur {args.val_blur} ignored for a holdout split of {args.train_split}", flush=True)
            args.val_blur = 0.0
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

    model = create_model(args.model).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    weights = torch.tensor(class_weights(y_tr, args.class_weight_power)) if args.class_weight_power > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = (len(y_tr) + args.batch_size - 1) // args.batch_size
    aug = AugmentConfig(**{k: (bool(getattr(args, f"aug_{k}")) if isinstance(v, bool) else getattr(args, f"aug_{k}"))
                           for k, v in asdict(AugmentConfig()).items() if not isinstance(v, tuple)})

    state = {"epoch": 0, "best_acc": -1.0, "best_epoch": 0, "lr_scale": 1.0, "since_best": 0, "since_lr": 0,
             "train_seconds": 0.0}
    if args.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location=args.device)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); state = ck["state"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed at epoch {state['epoch']} (best {state['best_acc']:.4f} at {state['best_epoch']})", flush=True)
    elif (out / "summary.csv").exists():
        (out / "summary.csv").unlink()
    write_json_atomic({**vars(args), "argv": sys.argv, "params": n_params}, out / "args.json")

    gen = torch.Generator().manual_seed(args.seed * 1000 + state["epoch"])
    xv = normalise(gaussian_blur(torch.as_tensor(x_va).float().unsqueeze(1), args.val_blur).squeeze(1))
    x_tr_t = torch.as_tensor(x_tr)
    y_tr_t = torch.as_tensor(y_tr)
    loss_w = weights.to(args.device) if weights is not None else None

    while state["epoch"] < args.epochs:
        epoch = state["epoch"] + 1
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(y_tr_t), generator=gen)
        tot_loss = tot_correct = tot_n = 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            xb = augment_batch(normalise(x_tr_t[idx]), aug, gen).to(args.device)
            yb = y_tr_t[idx].to(args.device)
            if args.schedule == "cosine":
                progress = (state["epoch"] + step / steps_per_epoch) / args.epochs
                lr = args.lr * 0.5 * (1 + np.cos(np.pi * progress))
            else:
                lr = args.lr * state["lr_scale"]
            if epoch <= args.warmup_epochs:
                lr *= (step + 1) / steps_per_epoch
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, weight=loss_w, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(yb)
            tot_correct += (logits.argmax(1) == yb).sum().item()
            tot_n += len(yb)
        logits_va = predict_logits(model, xv, args.device)
        val_loss = F.cross_entropy(logits_va, torch.as_tensor(y_va)).item()
        val_acc = (logits_va.argmax(1).numpy() == y_va).mean()
        dt = time.time() - t0
        state["train_seconds"] += dt
        state["epoch"] = epoch
        improved = val_acc > state["best_acc"]
        if improved:
            state.update(best_acc=float(val_acc), best_epoch=epoch, since_best=0, since_lr=0)
            save_atomic({"model": model.state_dict(), "args": vars(args), "epoch": epoch, "val_acc": float(val_acc),
                         "params": n_params}, out / "best.pt")
        else:
            state["since_best"] += 1
            state["since_lr"] += 1
            if args.schedule == "plateau" and state["since_lr"] >= args.plateau_patience:
                state["lr_scale"] *= 0.3
                state["since_lr"] = 0
                print(f"  plateau: lr -> {args.lr * state['lr_scale']:.2e}", flush=True)
        row = {"epoch": epoch, "lr": f"{lr:.3e}", "train_loss": f"{tot_loss / tot_n:.4f}",
               "train_acc": f"{tot_correct / tot_n:.4f}", "val_loss": f"{val_loss:.4f}", "val_acc": f"{val_acc:.4f}",
               "best_acc": f"{state['best_acc']:.4f}", "seconds": f"{dt:.1f}"}
        new = not (out / "summary.csv").exists()
        with open(out / "summary.csv", "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()) + (" *" if improved else ""), flush=True)
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                     "rng": torch.get_rng_state(), "args": vars(args)}, out / "last.pt")
        stop = state["since_best"] >= args.early_stop
        write_json_atomic({"epoch": epoch, "of": args.epochs, "train_images": int(len(y_tr)), "val_images": int(len(y_va)), "best_acc": state["best_acc"],
                           "best_epoch": state["best_epoch"], "train_seconds": round(state["train_seconds"], 1),
                           "finished": stop or epoch >= args.epochs,
                           "resume": f"/usr/bin/python3 -m ferkit_train.train {' '.join(sys.argv[1:])} --resume"},
                          out / "status.json")
        if stop:
            print(f"early stop: no improvement for {args.early_stop} epochs", flush=True)
            break
    print(f"best val acc {state['best_acc']:.4f} at epoch {state['best_epoch']}; "
          f"train time {state['train_seconds'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
