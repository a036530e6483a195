"""Seconds per training epoch of every registered model on this machine, without training one.

    /usr/bin/python3 -m ferkit_train.timing [--models resnet_s,ferkit_lite] [--steps 12] [--json out.json]

Times ``--steps`` optimisation steps (batch 128, batch-wise augmentation, channels_last, AdamW) after 3 warm-up
steps and scales to one FER2013 Training epoch (225 batches of 128). Used to plan long runs (training/README.md).
Noisy on a shared machine: compare models within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from .augment import AugmentConfig, augment_batch
from .models import create_model, list_models, memory_format

STEPS_PER_EPOCH = 225  # ceil(28,709 / 128)


def seconds_per_epoch(name: str, steps: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    fmt = memory_format(name)
    model = create_model(name).to(memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(128, 1, 48, 48, generator=gen) * 2 - 1
    y = torch.randint(0, 7, (128,), generator=gen)
    t0 = 0.0
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        xb = augment_batch(x, AugmentConfig(), gen).contiguous(memory_format=fmt)
        loss = F.cross_entropy(model(xb), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    per_step = (time.perf_counter() - t0) / steps
    return {"model": name, "params": sum(p.numel() for p in model.parameters()), "secondsPerStep": round(per_step, 3),
            "secondsPerEpoch": round(per_step * STEPS_PER_EPOCH, 1), "threads": threads,
            "memoryFormat": "channels_last" if fmt == torch.channels_last else "contiguous"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(list_models()))
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = [seconds_per_epoch(m, args.steps, args.threads) for m in args.models.split(",")]
    for r in rows:
        print(f"{r['model']:>14}  {r['params'] / 1e6:5.2f} M params  {r['secondsPerStep']:.3f} s/step  {r['secondsPerEpoch']:7.1f} s/epoch")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"cpus": os.cpu_count(), "torch": torch.__version__, "rows": rows}, fh, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
