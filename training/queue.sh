#!/usr/bin/env bash
# The CPU training queue (issue: accuracy, items 3 and 6): the runs of training/README.md's plan that take longer than
# one session, one after another on one core. Start it once per free core: each copy is a worker that takes the next
# run no other worker holds (a lock per run, runs/NAME.lock), so two workers train two runs side by side and never the
# same one. Two runs side by side took 296 and 373 s per epoch against ~261 s for one alone, so a second worker pays
# when the machine is otherwise idle; pause workers (kill -STOP/-CONT on the python child) for benchmarks.
# Each session starts the workers again; they skip finished runs (`"finished": true` in runs/NAME/status.json), resume
# an unfinished one at the batch it reached, and go on to the next when it is done.
#
#   cd training && nohup ./queue.sh >> runs/queue.log 2>&1 &      # one worker; run the line twice for two
#   QUEUE="se_resnet vgg" ./queue.sh                                # another order or subset
#   THREADS=2 nohup ./queue.sh >> runs/queue.log 2>&1 &            # one worker on both cores
#
# Every run is the recipe of the comparison table (docs/model-comparison.md): the default command with --model NAME
# for the family, 40 epochs, 1 thread, the calibration hold-out left out. The recipe ablations are the default's network (resnet_s) with
# one thing changed (see run_args). Logs: runs/NAME.log.
set -uo pipefail
cd "$(dirname "$0")"
PY=${PY:-/usr/bin/python3}
DATA=${DATA:-../../shared/data/fer2013}
# Runs must fit in one session: the development machine was reset between sessions on 2026-12-02 and every checkpoint
# under runs/ was lost (stn_cnn at 27 of 40 epochs, vgg at 6, resnet_s_mixup at 14, all teachers). So the family's two
# slow members ran shortened schedules (stn_cnn_e20, vgg_e15: ~2 h on one core each), as the comparison table says.
# The default list is what is still to run (the family and two ablations are done: its cards are in results/training/; to re-run it,
# QUEUE="se_resnet mini_xception stn_cnn_e20 vgg_e15" ./queue.sh). resnet_s_e100 finished on 2026-12-02 18:15 (100 min with THREADS=2, resumed across two sessions); it stays the default
# list, which the queue now skips as finished: add new runs to run_args and name them here.
# resnet_s48 (a 48-px first stage; the family's default command) ran 2026-12-02 22:02-23:05 (66.70%, under resnet_s_h's 67.12%).
# resnet_s_quadkd (the shipped network distilled from the best four-network ensemble) ran 2026-12-03 03:34-04:25 (68.40%, +0.02).
# resnet_s_e160mix (a long schedule with mixup/CutMix) started on 2026-12-03 04:27 as resnet_s_e200mix (--epochs 200); at epoch 75
# (06:48, 68.07% best) it was renamed and resumed with --epochs 160 so that it ends within the session: the cosine restarts from
# 75/160 of its course (lr 1.38e-3 -> 1.10e-3 at the switch); epochs 1-75 ran on the 200-epoch curve (summary.csv).
# resnet_s_e160kd (e160mix distilled from the flip-averaged pair e160mix + triokd, 10 epochs) ran 2026-12-03 08:54-10:00 (69.04%, under its 69.16% start).
# resnet_s_mixup and resnet_s_sgd finished on 2026-12-02 (cards in results/training/); re-run them with QUEUE=...
QUEUE=${QUEUE:-"resnet_s_e100 resnet_s48 resnet_s_quadkd resnet_s_e160mix resnet_s_e160kd"}
# THREADS=2 with one worker finishes one 40-epoch resnet_s run in 55-70 min (2026-12-02) instead of two side by side in
# ~200 min: use it when a session is too short for two runs (the figures are the same; only the wall time differs)
common=(--data "$DATA" --schedule cosine --epochs 40 --ema 0.999 --lr 2e-3 --weight-decay 0.05 --threads "${THREADS:-1}")

# a run's own arguments (after the common ones; argparse keeps the last value of a repeated option)
run_args() {
  case $1 in
    resnet_s_mixup) echo "--model resnet_s --mixup 0.5" ;;                                       # mixup/CutMix
    resnet_s_sgd) echo "--model resnet_s --optimizer sgd --lr 0.05 --weight-decay 5e-4" ;;       # SGD-Nesterov vs AdamW
    resnet_s_e100) echo "--model resnet_s --epochs 100" ;;                                       # a longer schedule
    resnet_s_quadkd) echo "--model resnet_s --init runs/resnet_s_triokd/best.pt --teacher runs/exports/resnet-s-triokd.onnx,runs/exports/resnet-s-pairkd.onnx,runs/exports/resnet-s-e100.onnx,runs/exports/resnet-s-mixup.onnx --kd-alpha 0.7 --kd-temp 4 --epochs 8 --lr 3e-4" ;;  # the best quartet (69.13%) into the shipped network
    resnet_s_e160mix) echo "--model resnet_s --epochs 160 --mixup 0.5" ;;                       # a long schedule regularised against e100's overfitting (started as 200, see above)
    resnet_s_e160kd) echo "--model resnet_s --init runs/resnet_s_e160mix/best.pt --teacher runs/exports/resnet-s-e160mix.onnx,runs/exports/resnet-s-triokd.onnx --teacher-flip --kd-alpha 0.7 --kd-temp 4 --epochs 10 --lr 3e-4" ;;  # the two best networks, flip-averaged, into the best single one
    stn_cnn_e20) echo "--model stn_cnn --epochs 20" ;;                                           # the family, shortened
    vgg_e15) echo "--model vgg --epochs 15" ;;                                                   # to fit one session
    *) echo "--model $1" ;;                                                                      # the family
  esac
}

mkdir -p runs
finished() { [ -f "runs/$1/status.json" ] && $PY -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("finished") else 1)' "runs/$1/status.json"; }
log() { echo "$(date -u +%FT%TZ) [worker $$] $*"; }

for name in $QUEUE; do
  if finished "$name"; then log "$name: finished already"; continue; fi
  # the run's lock: held for the whole run (by this shell and the trainer it starts), released when fd 9 closes
  exec 9>"runs/$name.lock"
  if ! flock -n 9; then log "$name: another worker is training it; next"; exec 9>&-; continue; fi
  if finished "$name"; then log "$name: finished already"; exec 9>&-; continue; fi
  resume=()
  [ -f "runs/$name/last.pt" ] && resume=(--resume)
  log "$name: ${resume[*]:-start}"
  # shellcheck disable=SC2046  # run_args's words are options
  $PY -m ferkit_train.train "${common[@]}" $(run_args "$name") --out "runs/$name" "${resume[@]}" >> "runs/$name.log" 2>&1 \
    || { rc=$?; log "$name: exit $rc (see runs/$name.log); stopping this worker"; exit "$rc"; }
  log "$name: done"
  exec 9>&-
done
log "nothing left to train"
