"""PublicTest accuracy of every ensemble of exported classifiers (probabilities averaged), single crop and with flips.

A measurement for the model comparison (docs/model-comparison.md, "Ensembles"), not a training step: which
combinations of already trained networks could reach an accuracy bar, before paying for one ``.onnx`` that runs them all.

    /usr/bin/python3 -m ferkit_train.ensemble --data ../../shared/data/fer2013 \\
        h=runs/teachers/resnet_s_h.onnx cw0=runs/export-cw0/resnet-s-cw0.onnx ...

With exactly two models it also compares them face by face: how many faces only one of them gets right (single crop),
and the exact two-sided McNemar p-value of that split, i.e. whether the difference in accuracy is more than noise.

``--views N`` also scores every combination of up to N *views*, a view being one model on the face (``t``) or on its
mirror image (``t~``): what one graph with N network runs per face can do (``ferkit_train.tta --flip 0,m`` builds
``t + q~`` as one ``.onnx``). The default, ``t + q~``, was chosen this way with ``--views 2`` (2026-12-03).

``--split holdout`` scores the calibration hold-out of Training instead (1,925 faces that no run with the default
``--calibration-holdout 1`` trained on and nothing was selected on): an independent check of a gain found on PublicTest.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys

import torch

from .data import calibration_mask, load_split, load_split_with_ids
from .onnx_teacher import OnnxModule
from .train import normalise


def probabilities(path: str, x: torch.Tensor, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax of the graph at ``path`` on ``x`` (float32 ``[N, 1, 48, 48]``, normalised) and on its mirror: two ``[N, 7]``."""
    graph = OnnxModule(path).eval()
    with torch.no_grad():
        plain = torch.cat([graph(x[i:i + batch]).softmax(1) for i in range(0, len(x), batch)])
        flip = torch.cat([graph(x[i:i + batch].flip(3)).softmax(1) for i in range(0, len(x), batch)])
    return plain, flip


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value for ``only_a`` faces right only with model a and ``only_b`` only with b."""
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FER2013 root (PublicTest/ folders) or fer2013.csv")
    p.add_argument("--split", default="PublicTest",
                   help="a split of --data, or 'holdout': the calibration hold-out of Training (never trained on by "
                        "runs with --calibration-holdout 1, never selected on), to check a PublicTest-selected gain")
    p.add_argument("--views", type=int, default=0,
                   help="also score every combination of up to N views (a model on the face, NAME, or on its mirror, NAME~)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("models", nargs="+", help="NAME=path.onnx, one or more (distinct names)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    named = dict(m.split("=", 1) if "=" in m else (m, m) for m in args.models)
    if args.split == "holdout":
        x, y, ids = load_split_with_ids(args.data, "Training", None)
        keep = calibration_mask(ids)
        x, y = x[keep], y[keep]
        print(f"calibration hold-out: {len(y)} Training images")
    else:
        x, y = load_split(args.data, args.split, None)
    xv, yt = normalise(x), torch.as_tensor(y)
    probs = {name: probabilities(path, xv) for name, path in named.items()}
    accuracy = lambda pr: (pr.argmax(1) == yt).float().mean().item() * 100  # noqa: E731
    print(f"| members | {args.split} single crop | with flips |\n|---|---|---|")
    for r in range(1, len(probs) + 1):
        for members in itertools.combinations(probs, r):
            single = sum(probs[m][0] for m in members)
            flips = sum(probs[m][0] + probs[m][1] for m in members)
            print(f"| {' + '.join(members)} | {accuracy(single):.2f}% | {accuracy(flips):.2f}% |")
    if args.views:
        views = {**{m: pr[0] for m, pr in probs.items()}, **{f"{m}~": pr[1] for m, pr in probs.items()}}
        print(f"\n| views (NAME~: on the mirror image) | {args.split} |\n|---|---|")
        for r in range(1, args.views + 1):
            for combo in itertools.combinations(views, r):
                print(f"| {' + '.join(combo)} | {accuracy(sum(views[v] for v in combo)):.2f}% |")
    if len(probs) == 2:
        (a, pa), (b, pb) = probs.items()
        ra, rb = pa[0].argmax(1) == yt, pb[0].argmax(1) == yt
        only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
        print(f"face by face (single crop): right only with {a}: {only_a}, only with {b}: {only_b}; "
              f"exact McNemar p = {mcnemar_p(only_a, only_b):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
