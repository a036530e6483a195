#!/usr/bin/env bash
# One prepared GPU session (issue: accuracy, item 4). Run from the repository root on the device machine, carrying
# training/packed/fer2013.npz (make it here first: cd training && /usr/bin/python3 -m ferkit_train.pack \
#   --data ../../shared/data/fer2013 --out packed/fer2013.npz   -> 49 MiB, under the 64 MiB carry limit).
#
#   run(command="bash training/gpu-run.sh", carry=["training/packed"], timeout_s=560)
#
# It trains, in parallel on the one GPU, the strongest teacher (ResNet-18-style, 2.8 M params) and three seeds of the
# default architecture, each with the best recipe measured on CPU (resnet_s_e160mix: a long cosine schedule with
# mixup/CutMix, 69.16% PublicTest against 68.15% for 100 epochs without; docs/model-comparison.md), and writes their
# best.pt/last.pt/summary.csv under $OUT (brought back by the tool, also when the call runs past its limit: each run
# checkpoints every 60 s, so a cut-off run still returns its best epoch so far; EPOCHS=80 halves the schedule).
# Every run is the same command as on CPU with --device cuda: the CPU figure is reproducible with the command in each
# args.json, just slower (seconds per epoch on 2 cores: training/README.md).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-python3}
OUT=${OUT:-/tmp/ferkit-gpu-out}
EPOCHS=${EPOCHS:-160}
DATA=packed/fer2013.npz
[ -f "$DATA" ] || { echo "missing $DATA (see the header of this script)"; exit 2; }
$PY -c 'import torch; assert torch.cuda.is_available(), "no CUDA"; print(torch.__version__, torch.cuda.get_device_name(0))'
common=(--data "$DATA" --cache /tmp/ferkit-cache --schedule cosine --epochs "$EPOCHS" --ema 0.999 --mixup 0.5 --device cuda --threads 4 --checkpoint-seconds 60)
mkdir -p "$OUT"
$PY -m ferkit_train.train "${common[@]}" --model resnet --out "$OUT/resnet-teacher" > "$OUT/resnet-teacher.log" 2>&1 &
for seed in 1 2 3; do
  $PY -m ferkit_train.train "${common[@]}" --model resnet_s --seed "$seed" --out "$OUT/resnet_s-seed$seed" > "$OUT/resnet_s-seed$seed.log" 2>&1 &
done
wait
for f in "$OUT"/*.log; do echo "== $f"; tail -n 2 "$f"; done
# keep what comes back small: best.pt only (last.pt holds optimiser state)
find "$OUT" -name last.pt -delete
