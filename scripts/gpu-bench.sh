#!/usr/bin/env bash
# Issue 14's run on a real GPU in one command: `ponder bench` model, train and kernels with PyTorch
# eager on the same card as the peer, for a GPU machine lent by the workplace's `device` tool (CUDA,
# PyTorch, no Node.js, no Vulkan loader; ../shared/gpu/README.md). On the CPU machine first:
#
#   bash ../shared/gpu/make-bundle.sh && npm run build
#
# then on the GPU machine, from the project root (the device tool's carry: .devgpu and dist):
#
#   bash scripts/gpu-bench.sh
#
# Writes into $OUT (default ./gpu-bench-out): info.txt (the adapter and nvidia-smi), and per suite
# <suite>.jsonl (`bench --json` lines, one per case) and <suite>.err (its stderr). Each suite runs
# under its own time limit (seconds, MODEL_S / TRAIN_S / KERNELS_S), so one that runs long leaves
# the others' figures; the train suite keeps to the models of up to 50M parameters that the target
# names. BENCH_FILTER replaces every suite's filter (a trial run on the CPU machine, say). Exits 0
# when every suite finished, else 1 after running them all.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-gpu-bench-out}
mkdir -p "$out"
if [ -f .devgpu/enter.sh ]; then
  # shellcheck disable=SC1091
  source .devgpu/enter.sh
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export PONDER_PYTHON=${PONDER_PYTHON:-$(command -v python3 || echo python3)}
if [ ! -f dist/src/cli/main.js ]; then
  echo "gpu-bench: dist/ is missing: run 'npm run build' here first (and carry dist)" >&2
  exit 1
fi

{
  node bin/ponder.js info
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$PONDER_PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
} > "$out/info.txt" 2>&1
cat "$out/info.txt"

failed=0
# suite, time limit, its filter (a `--filter` text or /regex/; empty: all its cases; BENCH_FILTER
# replaces it when set)
suite() {
  local name=$1 limit=$2 filter=${BENCH_FILTER:-$3}
  local args=(bench "$name" --peers --json)
  [ -n "$filter" ] && args+=(--filter "$filter")
  local start=$SECONDS
  timeout "$limit" node bin/ponder.js "${args[@]}" > "$out/$name.jsonl" 2> "$out/$name.err"
  local code=$?
  local rows
  rows=$(grep -c '"suite"' "$out/$name.jsonl" || true)
  if [ "$code" = 0 ]; then
    echo "gpu-bench: $name: $rows rows in $((SECONDS - start)) s"
  else
    failed=1
    local why="exit $code"
    [ "$code" = 124 ] && why="stopped at its ${limit} s limit"
    echo "gpu-bench: $name: $why after $rows rows (see $out/$name.err)"
  fi
}

suite model "${MODEL_S:-150}" ""
suite train "${TRAIN_S:-200}" "/default-model|bench-50m|tiny-/"
suite kernels "${KERNELS_S:-120}" ""
exit "$failed"
