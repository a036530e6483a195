"""Load FER2013 from the Kaggle folder layout or the original ``fer2013.csv``.

Both return uint8 arrays ``images [N, 48, 48]`` (grayscale, 0-255) and int64 ``labels [N]`` in
FER2013 index order (see ``EXPRESSIONS``). Decoded folders are cached as ``.npz`` next to the
run outputs so that later runs start in a second.
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import EXPRESSIONS

CSV_USAGE = {"training": "Training", "publictest": "PublicTest", "privatetest": "PrivateTest"}

# The calibration hold-out: the Training images whose id hashes (32-bit FNV-1a of the file's base name, or of
# "Training:<csv line>" for fer2013.csv) to a value below this percentage, mod 100. About 7% of Training (2,0xx
# images). Runs leave them out (``--calibration-holdout``, on by default), and `ferkit calibrate` fits each model's
# temperature on them, so neither selection (PublicTest) nor training sees them. Same rule in src/node/calibration.ts.
CALIBRATION_PERCENT = 7


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def calibration_mask(ids: list[str]) -> np.ndarray:
    """True for the images of the calibration hold-out (see ``CALIBRATION_PERCENT``)."""
    return np.array([fnv1a32(os.path.basename(i)) % 100 < CALIBRATION_PERCENT for i in ids], dtype=bool)


def load_folder(split_dir: str | os.PathLike, size: int = 48) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``split_dir/<class>/*.(jpg|png)``; class folder names must be FER2013 expressions."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: not a folder (expected <split>/<class>/*.jpg)")
    images, labels, files = [], [], []
    for label, name in enumerate(EXPRESSIONS):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            continue
        for f in sorted(class_dir.iterdir()):
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("L")
                    if im.size != (size, size):
                        im = im.resize((size, size), Image.BOX)
                    images.append(np.asarray(im, dtype=np.uint8))
            except Exception as e:  # one bad file must not stop the run
                print(f"warning: {f}: skipped ({e})")
                continue
            labels.append(label)
            files.append(str(f.relative_to(split_dir)))
    if not images:
        raise ValueError(f"{split_dir}: no images found in class folders {EXPRESSIONS}")
    return np.stack(images), np.asarray(labels, dtype=np.int64), files


def load_csv(csv_path: str | os.PathLike, usage: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the original ``fer2013.csv`` (columns emotion,pixels,Usage) for one Usage value."""
    want = CSV_USAGE.get(usage.lower().replace("_", ""), usage)
    images, labels, ids = [], [], []
    with open(csv_path, newline="") as fh:
        for row_no, row in enumerate(csv.DictReader(fh), start=2):
            if row.get("Usage", want) != want:
                continue
            px = np.array(row["pixels"].split(), dtype=np.uint8)
            if px.size != 48 * 48:
                print(f"warning: {csv_path}:{row_no}: {px.size} pixels, expected 2304; skipped")
                continue
            images.append(px.reshape(48, 48))
            labels.append(int(row["emotion"]))
            ids.append(f"{want}:{row_no}")
    if not images:
        raise ValueError(f"{csv_path}: no rows with Usage={want}")
    return np.stack(images), np.asarray(labels, dtype=np.int64), ids


def _folder_signature(split_dir: Path) -> str:
    """Cheap fingerprint of a split folder (file count, total size, newest mtime): a replaced copy of the data
    (same paths, new pixels) gets a new cache key instead of silently reusing the old decoded arrays."""
    n = size = 0
    newest = 0.0
    for class_dir in sorted(split_dir.iterdir()) if split_dir.is_dir() else []:
        if not class_dir.is_dir():
            continue
        for f in os.scandir(class_dir):
            st = f.stat()
            n += 1
            size += st.st_size
            newest = max(newest, st.st_mtime)
    return f"{n}:{size}:{newest:.0f}"


def load_packed(npz_path: str | os.PathLike, split: str, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of a file written by ``ferkit_train.pack`` (original JPEG bytes + offsets + labels)."""
    import io
    with np.load(npz_path) as z:
        if f"{split}_jpeg" not in z.files:
            raise ValueError(f"{npz_path}: no split {split!r} (has {sorted(k[:-5] for k in z.files if k.endswith('_jpeg'))})")
        blob, off, y = z[f"{split}_jpeg"], z[f"{split}_offsets"], z[f"{split}_y"]
    images = []
    for i in range(len(y)):
        with Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())) as im:
            im = im.convert("L")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BOX)
            images.append(np.asarray(im, dtype=np.uint8))
    return np.stack(images), y.astype(np.int64)


def load_split(source: str, split: str, cache_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load one split from a dataset root (folders) or a ``.csv`` file, with an optional npz cache."""
    x, y, _ = load_split_with_ids(source, split, cache_dir)
    return x, y


def load_split_with_ids(source: str, split: str, cache_dir: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """As ``load_split``, plus each image's id (relative file path, or ``Usage:line`` for the CSV)."""
    if source.lower().endswith(".csv"):
        return load_csv(source, split)
    if source.lower().endswith(".npz"):  # written by ferkit_train.pack
        x, y = load_packed(source, split)
        with np.load(source) as z:
            ids = [str(i) for i in z[f"{split}_ids"]] if f"{split}_ids" in z.files else [f"{split}:{n}" for n in range(len(y))]
        return x, y, ids
    path = Path(source) / split
    if cache_dir:
        key = hashlib.sha1(f"{path.resolve()}|{_folder_signature(path)}".encode()).hexdigest()[:10]
        cache = Path(cache_dir) / f"{split}-{key}.npz"
        if cache.exists():
            z = np.load(cache)
            if "ids" in z.files:
                return z["x"], z["y"], [str(i) for i in z["ids"]]
    x, y, ids = load_folder(path)
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        # a name of this process's own: two trainers started together both write the cache, and each must
        # rename its own complete file (the last rename wins; both files are the same data)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y, ids=np.array(ids))
        os.replace(tmp, cache)
    return x, y, ids


def class_weights(labels: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Inverse-frequency class weights ``(N / (K * n_k)) ** power``, normalised to mean 1.

    ``power=1`` is the classic balanced weighting; ``0.5`` (default) softens it so that the rare
    *disgust* class (436 of 28,709) is helped without costing much overall accuracy.
    """
    counts = np.bincount(labels, minlength=len(EXPRESSIONS)).astype(np.float64)
    w = (counts.sum() / (len(counts) * np.maximum(counts, 1))) ** power
    return (w / w.mean()).astype(np.float32)
