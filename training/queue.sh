#!/usr/bin/env bash
# The CPU training queue (issue: accuracy, items 3 and 6): the runs of training/README.md's plan that take longer than
# one session, one after another on one core (the other is left for the session's tests and benchmarks; two runs side by
# side took 296 and 373 s per epoch against ~261 s for one alone, so a second queue on the other core also pays when
# the machine is otherwise idle). Each session starts it again; it skips finished runs (`"finished": true` in runs/NAME/status.json), resumes
# the unfinished one at the batch it reached, and starts the next when that is done.
#
#   cd training && nohup ./queue.sh >> runs/queue.log 2>&1 &
#   QUEUE="se_resnet vgg" ./queue.sh      # another order or subset
#
# Every run is the recipe of the comparison table (docs/model-comparison.md): the default command with --model NAME,
# 40 epochs, 1 thread, the calibration hold-out left out. Logs: runs/NAME.log.
set -uo pipefail
cd "$(dirname "$0")"
PY=${PY:-/usr/bin/python3}
DATA=${DATA:-../../shared/data/fer2013}
QUEUE=${QUEUE:-"se_resnet mini_xception stn_cnn vgg"}
common=(--data "$DATA" --schedule cosine --epochs 40 --ema 0.999 --lr 2e-3 --weight-decay 0.05 --threads 1)

mkdir -p runs
# one queue at a time: a queue left running by an earlier session keeps the lock, and this one leaves
exec 9>runs/queue.lock
flock -n 9 || { echo "$(date -u +%FT%TZ) another queue.sh is running (runs/queue.lock); leaving"; exit 0; }

finished() { [ -f "runs/$1/status.json" ] && $PY -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("finished") else 1)' "runs/$1/status.json"; }

for name in $QUEUE; do
  if finished "$name"; then echo "$(date -u +%FT%TZ) $name: finished already"; continue; fi
  resume=()
  [ -f "runs/$name/last.pt" ] && resume=(--resume)
  echo "$(date -u +%FT%TZ) $name: ${resume[*]:-start}"
  $PY -m ferkit_train.train "${common[@]}" --model "$name" --out "runs/$name" "${resume[@]}" >> "runs/$name.log" 2>&1 \
    || { rc=$?; echo "$(date -u +%FT%TZ) $name: exit $rc (see runs/$name.log); stopping the queue"; exit "$rc"; }
  echo "$(date -u +%FT%TZ) $name: done"
done
