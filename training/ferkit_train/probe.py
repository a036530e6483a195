"""Untrained candidates of registered architectures as float and int8 ``.onnx``, to time them before training any.

Inference speed does not depend on the weights, so an architecture's faces/s in ONNX Runtime can be known in a minute
instead of after a 2-hour run. This writes ``<out>/<name>.onnx`` (float) and ``<out>/<name>-int8.onnx`` (the same static
QDQ quantization as ``ferkit_train.quantize``, with activation ranges from random inputs: right for timing, meaningless
for accuracy). Time them with ``node dist/bench/onnx-speed.js <out>/*.onnx`` (batch 64, interleaved rounds).

    /usr/bin/python3 -m ferkit_train.probe --out /tmp/probe resnet_xs ferkit_lite resnet_s
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
import torch

from .export import export_onnx
from .models import create_model, list_models
from .onnx_teacher import OnnxModule
from .quantize import activation_ranges, quantize


def export_untrained(name: str, out: Path, seed: int = 0) -> tuple[Path, Path, int]:
    """Writes the float and int8 graphs of an untrained ``name``; returns their paths and its parameter count."""
    torch.manual_seed(seed)
    model = create_model(name).eval()
    with torch.no_grad():  # BatchNorm statistics away from the identity, so that no layer folds to a trivial one
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2)
                m.running_mean.normal_(0, 0.1)
    fp = out / f"{name}.onnx"
    export_onnx(model, fp)
    x = torch.randn(256, 1, 48, 48, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    q = quantize(onnx.load(str(fp)), activation_ranges(OnnxModule(str(fp)), x, "minmax"))
    qp = out / f"{name}-int8.onnx"
    onnx.save(q, str(qp))
    return fp, qp, sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the .onnx files")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("models", nargs="+", choices=list_models(), metavar="MODEL", help=f"one or more of: {', '.join(list_models())}")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        fp, qp, params = export_untrained(name, out)
        print(f"{name}: {params / 1e6:.3f} M parameters; {fp} {fp.stat().st_size / 1e6:.2f} MB, {qp} {qp.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
