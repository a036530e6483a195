"""Pack FER2013 Training + PublicTest as one compressed uint8 ``.npz`` for a GPU machine (which sees only the work tree).

    /usr/bin/python3 -m ferkit_train.pack --data ../../shared/data/fer2013 --out packed/fer2013.npz

Decoded pixels do not fit (67.9 MiB compressed), so it stores each split's original JPEG bytes, concatenated:
``Training_jpeg`` (uint8), ``Training_offsets`` (int64, N+1) and ``Training_y`` (int64, N), the same for PublicTest
(~51 MiB in all), and fails if the file exceeds ``--max-mib`` (64 by default: the device tool carries at most 64 MiB).
Decoding the same JPEGs gives the same pixels as the folders. PrivateTest is never packed.
``train.py --data packed/fer2013.npz`` reads it like a folder root. The file is ignored by git (``packed/``).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from . import EXPRESSIONS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="packed/fer2013.npz")
    p.add_argument("--splits", default="Training,PublicTest")
    p.add_argument("--max-mib", type=float, default=64)
    args = p.parse_args(argv)
    arrays = {}
    for split in args.splits.split(","):
        if split.lower() == "privatetest":
            print("PrivateTest is held out: not packed", file=sys.stderr)
            return 2
        blobs, labels, ids = [], [], []
        for k, name in enumerate(EXPRESSIONS):
            for f in sorted((Path(args.data) / split / name).glob("*")):
                if f.suffix.lower() in (".jpg", ".jpeg", ".png"):
                    blobs.append(f.read_bytes()); labels.append(k); ids.append(f"{name}/{f.name}")
        if not blobs:
            print(f"{args.data}/{split}: no images", file=sys.stderr)
            return 1
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_y"] = np.asarray(labels, dtype=np.int64)
        arrays[f"{split}_ids"] = np.array(ids)  # for the calibration hold-out (data.calibration_mask)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # JPEG bytes do not compress further
    mib = tmp.stat().st_size / 2**20
    if mib > args.max_mib:
        tmp.unlink()
        print(f"{out}: {mib:.1f} MiB is over --max-mib {args.max_mib}", file=sys.stderr)
        return 1
    os.replace(tmp, out)
    print(f"wrote {out}: {mib:.1f} MiB, " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
