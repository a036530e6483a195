#!/usr/bin/env bash
# What a fresh project gets from `npm install <ferkit tarball>` with npm 10 and npm 11, install scripts on and off.
# Not a test (it takes minutes and ~600 MB per case): the figures go into docs/install.md.
#   usage: test/pack/measure-install.sh ferkit-0.1.0.tgz [npm10-binary] > results.tsv
# Each case: a new folder in $TMPDIR, `npm install <tarball>`, then `npx ferkit analyze sample1.jpg` (3 faces).
# Columns: case, npm version, install exit code, install seconds, warnings (npm warn lines, deduplicated),
# faces found by the first command (or its error), seconds from install start to that result, du of node_modules
# and of node_modules/ferkit, better-sqlite3 loads (yes/no), CUDA files downloaded (yes/no), onnxruntime-node installed
# (yes/no), the runtime the first command used (onnxruntime-web when ferkit printed its fallback note on stderr), and
# the seconds the first command alone took.
set -u
TGZ=$(realpath "$1")
NPM10=${2:-}
PHOTO=$(realpath "$(dirname "$0")/../../node_modules/@vladmandic/face-api/demo/sample1.jpg")
unset ONNXRUNTIME_NODE_INSTALL npm_config_onnxruntime_node_install

run_case() {  # name npm-binary [ENV=value...] [ALLOW_DENY=1] -- install-args...
  local name=$1 npm=$2; shift 2
  local deny=0
  local envs=()
  while [ "$1" != "--" ]; do if [ "$1" = ALLOW_DENY=1 ]; then deny=1; else envs+=("$1"); fi; shift; done; shift
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/ferkit-install-$name-XXXX")
  cp "$PHOTO" "$dir/sample1.jpg"
  printf '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module" }\n' > "$dir/package.json"
  # ALLOW_DENY=1: the consumer's package.json denies onnxruntime-node's install script (npm 11's allowScripts)
  [ "$deny" = 1 ] && printf '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module", "allowScripts": { "onnxruntime-node": false } }\n' > "$dir/package.json"
  local t0 t1 t2 rc out faces
  t0=$(date +%s.%N)
  (cd "$dir" && env "${envs[@]}" timeout 600 nice -n 19 "$npm" install "$TGZ" --no-audit --no-fund "$@" > install.log 2>&1)
  rc=$?
  t1=$(date +%s.%N)
  local ta tb
  ta=$(date +%s.%N)
  out=$(cd "$dir" && timeout 300 nice -n 19 npx --no-install ferkit analyze sample1.jpg 2> analyze.err)
  tb=$(date +%s.%N)
  faces=$(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);const r=Array.isArray(j)?j[0]:j;console.log(r.faces.length)}catch{console.log("FAIL")}})')
  [ "$faces" = FAIL ] && faces="FAIL: $(head -c 160 "$dir/analyze.err" | tr '\n\t' '  ')"
  t2=$(date +%s.%N)
  local warns sqlite cuda ortnode runtime
  ortnode=$([ -e "$dir/node_modules/onnxruntime-node/package.json" ] && echo yes || echo no)
  runtime=$(grep -q 'running on onnxruntime-web' "$dir/analyze.err" && echo onnxruntime-web || echo onnxruntime-node)
  case $faces in FAIL*) runtime=none ;; esac
  warns=$(grep -Ei "warn|notice|approve|skipp" "$dir/install.log" | sed -E "s/npm (warn|notice) //I" | cut -c1-120 | sort | uniq -c | sed -E 's/^ +//' | tr '\n' ';')
  sqlite=$( (cd "$dir" && node -e "const D=require('better-sqlite3');new D(':memory:').close();console.log('yes')" 2>/dev/null) || echo no)
  cuda=$([ -e "$dir/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so" ] && echo yes || echo no)
  printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n' "$name" "$("$npm" --version)" "$rc" "$(echo "$t1 - $t0" | bc)" \
    "${warns:-none}" "$faces" "$(echo "$t2 - $t0" | bc)" "$(du -sh "$dir/node_modules" 2>/dev/null | cut -f1)" \
    "$(du -sh "$dir/node_modules/ferkit" 2>/dev/null | cut -f1)" "$sqlite" "$cuda" "$ortnode" "$runtime" "$(echo "$tb - $ta" | bc)"
  if [ "$rc" != 0 ]; then echo "--- $name install.log (tail)" >&2; tail -15 "$dir/install.log" >&2; fi
  echo "--- $name analyze stderr" >&2; head -5 "$dir/analyze.err" >&2
  rm -rf "$dir"
}

printf 'case\tnpm\tinstall_rc\tinstall_s\twarnings\tfaces\tfirst_result_s\tnode_modules\tferkit\tbetter_sqlite3\tcuda\tonnxruntime_node\truntime\tanalyze_s\n'
CASES=${CASES:-npm11-default npm11-env-skip npm11-allowscripts-deny npm11-ignore-scripts npm10-default npm10-env-skip npm10-ignore-scripts npm10-blackhole}
for c in $CASES; do case $c in
  npm11-default) run_case $c npm -- ;;
  npm11-env-skip) run_case $c npm ONNXRUNTIME_NODE_INSTALL=skip -- ;;
  npm11-allowscripts-deny) run_case $c npm ALLOW_DENY=1 -- ;;
  npm11-ignore-scripts) run_case $c npm -- --ignore-scripts ;;
esac; done
if [ -n "$NPM10" ]; then for c in $CASES; do case $c in
  npm10-default) run_case $c "$NPM10" -- ;;
  npm10-env-skip) run_case $c "$NPM10" ONNXRUNTIME_NODE_INSTALL=skip -- ;;
  npm10-ignore-scripts) run_case $c "$NPM10" -- --ignore-scripts ;;
  # a firewall that drops packets instead of refusing them (api.nuget.org reached through a black-hole proxy)
  npm10-default-omit-optional) run_case $c "$NPM10" -- --omit=optional ;;
  npm10-env-skip-omit-optional) run_case $c "$NPM10" ONNXRUNTIME_NODE_INSTALL=skip -- --omit=optional ;;
  npm10-blackhole) run_case $c "$NPM10" GLOBAL_AGENT_HTTPS_PROXY=http://10.255.255.1:3128 -- ;;
esac; done; fi
