#!/usr/bin/env bash
# The GPU check: the first GPU figures, on a machine with a GPU, JAX and no TensorFlow.
#
#   benchmarks/gpu/check.sh OUT [--device gpu1|cpu] [--quick] [--dry-run]
#
# Runs from the repository root (it goes there itself) with no `pip install` of the project and no
# network: the wheels `make gpu-wheels` left in .whl/ (Keras and what it needs beyond that machine's
# packages) are installed into .site/ ($SITE) and put on PYTHONPATH with the repository, unless Keras
# already imports. $PYTHON (default python3) runs everything. It builds a synth data set, then, on DEVICE with
# --backend jax and the imagenet workload:
#   DEVICE-synthetic in float32 and in mixed_bfloat16 (the model's ceiling),
#   DEVICE-naive and DEVICE-$PROCESS_PIPELINE (one decode process per usable core: 16 on that machine),
#   DEVICE-synthetic-masked, -zeroed and -constraint (priced against the float32 DEVICE-synthetic),
#   and a tiny `harness lth` (smoke workload, one layer-wise mask, rewinds 0 and 1, fed by the
#   multi-process pipeline).
# Each step has a time budget, cut to what is left of TOTAL_S (450 s) for the whole check; a step that
# fails or runs out of time is recorded and the next one runs. Whatever happens, one archive
# OUT/gpu-check-<host>-<device>-<time>.tar.gz is written: the run records and the search's summary
# under results/ (what `harness report` reads), steps.tsv (each step's status, seconds, budget and
# command), machine.txt and every step's log; no weights.
#
# --device cpu runs the same steps on the CPU (the mixed-precision one is skipped: it needs a GPU);
# --quick takes the smoke workload, a tiny data set and a few steps (a try-out on a CPU);
# --dry-run builds the data set and records every other step's command without running it.
# Exit status: 0 when every step passed, 1 when one did not (the archive says which), 2 for bad usage.
set -euo pipefail

usage() {
    echo "usage: $0 OUT [--device gpu1|cpu] [--quick] [--dry-run]" >&2
    exit 2
}

OUT="" DEVICE=gpu1 QUICK=0 DRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) [ $# -ge 2 ] || usage; DEVICE=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        -*) usage ;;
        *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
    esac
done
[ -n "$OUT" ] || usage
case "$DEVICE" in gpu1|cpu) ;; *) echo "--device takes gpu1 or cpu, not $DEVICE" >&2; exit 2 ;; esac
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
PROCESS_PIPELINE=${PROCESS_PIPELINE:-processes}  # the multi-process pipeline's name in pipelines/data/online
SITE=${SITE:-$ROOT/.site}  # where the wheels are installed
TOTAL_S=${TOTAL_S:-450}  # the whole check, packing included, stays under 8 minutes
START=$SECONDS
STEM=gpu-check-${HOSTNAME:-host}-$DEVICE-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
RUN=$WORK/$STEM
RESULTS=$RUN/results
DATA=$WORK/data
mkdir -p "$RUN/logs" "$RESULTS"
printf 'step\tstatus\tseconds\tbudget_s\tcommand\n' >"$RUN/steps.tsv"
FAILED=0
export KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$WORK/jax-cache  # later runs reuse the same compiled steps

pack() {
    local status=$?
    [ "$FAILED" = 0 ] || status=1
    tar -czf "$OUT/$STEM.tar.gz.partial" -C "$WORK" --exclude='*.h5' --exclude='*.npz' --exclude='*.keras' "$STEM" \
        && mv "$OUT/$STEM.tar.gz.partial" "$OUT/$STEM.tar.gz" && echo "archive: $OUT/$STEM.tar.gz"
    rm -rf "$WORK"
    exit "$status"
}
trap pack EXIT

# step KIND NAME BUDGET_S COMMAND...: run COMMAND for at most BUDGET_S seconds (less when the check's
# time is running out), its output in logs/NAME.log, and record how it ended; never stops the check.
# KIND is `setup` (runs even with --dry-run) or `run`.
step() {
    local kind=$1 name=$2 budget=$3 started=$SECONDS status rc
    shift 3
    local left=$((TOTAL_S - (SECONDS - START) - 15))  # 15 s kept for packing
    [ "$budget" -le "$left" ] || budget=$left
    echo "[$name] $*"
    if [ "$DRY" = 1 ] && [ "$kind" = run ]; then
        status=dry-run
    elif [ "$budget" -le 0 ]; then
        status=no-time-left FAILED=1
    elif timeout --kill-after=10 "$budget" "$@" >"$RUN/logs/$name.log" 2>&1; then
        status=ok
    else
        rc=$?
        case $rc in 124|137) status="timed out" ;; *) status="exit $rc" ;; esac
        FAILED=1
        tail -n 3 "$RUN/logs/$name.log" | sed "s/^/[$name] /" || true
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" $((SECONDS - started)) "$budget" "$*" >>"$RUN/steps.tsv"
    echo "[$name] $status"
}

skip() {  # skip NAME WHY: record a step this device cannot run
    printf '%s\t%s\t0\t0\t\n' "$1" "skipped: $2" >>"$RUN/steps.tsv"
    echo "[$1] skipped: $2"
}

# Steps run under `timeout`, so what they run is a command, never a shell function: these go by bash -c.
install_wheels() {
    [ -n "$(ls .whl/*.whl 2>/dev/null)" ] || { echo "no wheels in .whl/: run make gpu-wheels where there is a network"; return 1; }
    rm -rf "$SITE"
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl
}
describe_machine() {
    "$PY" -c 'import platform, sys; print(sys.version); print(platform.platform())'
    "$PY" -m pip list 2>/dev/null || true
    nvidia-smi 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c 'import jax; print("jax", jax.__version__, jax.devices())'
}
export PY SITE
export -f install_wheels describe_machine

if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ("keras", "namex", "optree"))))'; then
    step setup wheels 120 bash -c install_wheels
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
HARNESS=("$PY" -m harness.cli)

step setup machine 60 bash -c describe_machine
cp "$RUN/logs/machine.log" "$RUN/machine.txt" 2>/dev/null || true
if [ "$QUICK" = 1 ]; then
    WORKLOAD=smoke SHORT=(--steps 3 --warmup 1) LONG=(--steps 3 --warmup 1)
    step setup data 90 "${HARNESS[@]}" data synth "$DATA" --classes 3 --train-per-class 12 --val-per-class 3
else
    WORKLOAD=imagenet SHORT=(--steps 20 --warmup 3) LONG=(--steps 50 --warmup 5)
    step setup data 90 "${HARNESS[@]}" data synth "$DATA" --classes 10 --train-per-class 40 --val-per-class 10
fi

train() {  # train NAME BUDGET_S VARIANT FLAGS...: one `harness run` on JAX
    local name=$1 budget=$2 variant=$3
    shift 3
    step run "$name" "$budget" "${HARNESS[@]}" run --variant "$variant" --backend jax --data "$DATA" \
        --workload "$WORKLOAD" --results "$RESULTS" --json "$@"
}

train synthetic-float32 120 "$DEVICE-synthetic" --precision float32 "${LONG[@]}"
if [ "$DEVICE" = cpu ]; then
    skip synthetic-mixed_bfloat16 "mixed precision needs a GPU"
else
    train synthetic-mixed_bfloat16 90 "$DEVICE-synthetic" --precision mixed_bfloat16 "${LONG[@]}"
fi
train naive 120 "$DEVICE-naive" "${SHORT[@]}"
train "$PROCESS_PIPELINE" 90 "$DEVICE-$PROCESS_PIPELINE" "${SHORT[@]}"
train synthetic-masked 90 "$DEVICE-synthetic-masked" "${LONG[@]}"
train synthetic-zeroed 75 "$DEVICE-synthetic-zeroed" "${LONG[@]}"
step run lth 150 "${HARNESS[@]}" lth --device "$DEVICE" --backend jax --data "$DATA" --workload smoke --epochs 2 \
    --rewind 0,1 --sparsity 0.5 --scope layer --pipeline "$PROCESS_PIPELINE" --out "$RESULTS/lth-$DEVICE" --json
train synthetic-constraint 75 "$DEVICE-synthetic-constraint" "${LONG[@]}"

column -t -s "$(printf '\t')" "$RUN/steps.tsv" 2>/dev/null | cut -c1-160 || cat "$RUN/steps.tsv"
