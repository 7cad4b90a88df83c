#!/usr/bin/env bash
# Issue 23's GPU path, in one call on a lent GPU machine (the CPU figures are results/finetune.md):
#   0. smoke: a 2-epoch `zoo finetune` of the demo model on the GPU (bf16 autocast, pinned
#      batches, the harness's measurement on the GPU); the script stops here if it fails;
#   1. ddp: `zoo finetune` under torchrun (NCCL), killed after its first finished epoch and run
#      again with the same command: it resumes from the last finished epoch; then the same run
#      uninterrupted, beside it (bf16 on a GPU is not bit-exact from run to run: compared, not
#      asserted; the bit-exact resume is tested on the CPU, tests/test_finetune.py);
#   2. demo: the demo transfer table (benchmarks/perf/transfer_demo.py, every task, 8/16/32
#      training videos per class, 3 seeds, 40 epochs, the recipe alone) trained and measured on
#      the GPU, one process per task, size and seed in parallel, then the page made from their runs.
# Each step has its own time limit; what is left for $OUT: finetune.md|csv (the GPU's demo
# table), gpu_transfer.log, runs.tar.gz (every run's manifest, the parts' pages and logs).
# Run from the repository root:  OUT=results/gpu bash benchmarks/perf/gpu_transfer.sh
# On a bare machine without PyAV, put its wheel in .gpu/ (git-ignored); it is used when present.
# DEVICE, TASKS, SIZES, SEEDS, EPOCHS, VAL and STEPS narrow it (a dry run on the CPU: DEVICE=cpu).
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH=$PWD
if ls .gpu/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/*.whl || exit 1
  export PYTHONPATH=$PWD:$PWD/.gpu/site:/tmp/site
fi
export PYTHONUNBUFFERED=1 TORCH_HOME=${TORCH_HOME:-/tmp/torch} XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/cache}
DEVICE=${DEVICE:-cuda}
# the tasks of benchmarks.demo.videos.TRANSFER_TASKS (results/gpu/ was made before speeds, with the first two)
TASKS=${TASKS:-"diagonals there_and_back speeds"}
SIZES=${SIZES:-"8 16 32"}
SEEDS=${SEEDS:-"0 1 2"}
EPOCHS=${EPOCHS:-40}
VAL=${VAL:-50}
STEPS=${STEPS:-"ddp demo"}
WORK=${WORK:-/tmp/gpu_transfer}
ROOT=$WORK/videos
RUNS=$WORK/runs
LOG=$OUT/gpu_transfer.log
rm -rf "$WORK/smoke" "$WORK/ddp_resumed" "$WORK/ddp_whole"  # a rerun checks anew (the videos and runs stay)
mkdir -p "$WORK/logs"
exec > >(tee -a "$LOG") 2>&1
say() { echo "== $(date -u +%H:%M:%S) $*"; }
render() {  # TASK N: the task's videos, N training and VAL held out per class (once: a rendered folder is kept)
  python3 -c "from pathlib import Path; from benchmarks.demo import videos; videos.generate_transfer(Path('$ROOT/$1/n$2'), {'train': $2, 'val': $VAL}, classes=videos.TRANSFER_TASKS['$1'], progress=False)"
}
nvidia-smi -L 2>/dev/null
nproc
python3 -c "import torch, torchvision, av, pandas, tabulate; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'av', av.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || exit 1

say "videos: diagonals 16 per class"
render diagonals 16 || exit 1
DATA="--dataset folders --train $ROOT/diagonals/n16/train --val $ROOT/diagonals/n16/val"

say "smoke: zoo finetune, 2 epochs, $DEVICE"
timeout 120 python3 -m benchmarks.cli finetune i3d_tiny_8x4_demo $DATA --out "$WORK/smoke" --epochs 2 --batch-size 8 \
  --optimizer adamw --lr 0.01 --workers 2 --device "$DEVICE" --results none --quiet || { say "smoke failed"; exit 1; }
python3 -c "import json; m = json.load(open('$WORK/smoke/manifest.json')); print('smoke', m['hardware'], 'top1', m['val']['top1'], 'losses', [round(h['loss'], 4) for h in m['history']], 'seconds', [round(h['seconds'], 2) for h in m['history']])"

case " $STEPS " in *" ddp "*)
say "ddp: torchrun, killed after its first finished epoch, then resumed"
FT="benchmarks.cli finetune i3d_tiny_8x4_demo $DATA --epochs 8 --batch-size 8 --optimizer adamw --lr 0.01 --head-epochs 2 \
  --backbone-lr-scale 0.01 --workers 2 --device $DEVICE --results none --quiet"
torchrun --standalone --nproc_per_node 1 -m $FT --out "$WORK/ddp_resumed" &
PID=$!  # torchrun passes a SIGTERM on to its worker
for _ in $(seq 600); do [ -f "$WORK/ddp_resumed/train_state.pt" ] && break; sleep 0.1; done
kill -TERM $PID 2>/dev/null; wait $PID
if [ -f "$WORK/ddp_resumed/train_state.pt" ]; then
  python3 -c "import torch; s = torch.load('$WORK/ddp_resumed/train_state.pt', weights_only=True, map_location='cpu'); print('killed after', len(s['history']), 'finished epochs')"
else
  say "ddp: killed before its first epoch ended (no state): the next run starts over"
fi
timeout 120 torchrun --standalone --nproc_per_node 1 -m $FT --out "$WORK/ddp_resumed"
timeout 120 torchrun --standalone --nproc_per_node 1 -m $FT --out "$WORK/ddp_whole"
python3 -c "
import json
for name in ('ddp_resumed', 'ddp_whole'):
    m = json.load(open('$WORK/' + name + '/manifest.json'))
    print(name, m['hardware'], 'top1', m['val']['top1'], 'losses', [round(h['loss'], 4) for h in m['history']])
";;
esac

case " $STEPS " in *" demo "*)
say "demo: one process per task, size and seed"
RENDERS=()
for task in $TASKS; do  # the videos first, each folder once
  for n in $SIZES; do
    render $task $n &
    RENDERS+=($!)
  done
done
for pid in "${RENDERS[@]}"; do wait "$pid" || { say "rendering failed"; exit 1; }; done
PARTS=()
for task in $TASKS; do
  for n in $SIZES; do
    for seed in $SEEDS; do
      OMP_NUM_THREADS=2 timeout ${DEMO_S:-300} python3 -m benchmarks.perf.transfer_demo --device "$DEVICE" --tasks $task \
        --train-per-class $n --val-per-class $VAL --seeds $seed --epochs $EPOCHS --no-variants --workers 1 \
        --root "$ROOT" --runs "$RUNS" --out "$WORK/parts/${task}_${n}_$seed" > "$WORK/logs/demo_${task}_${n}_$seed.log" 2>&1 &
      PARTS+=($!)
    done
  done
done
for pid in "${PARTS[@]}"; do wait "$pid" || say "a part failed: see runs.tar.gz"; done  # not a bare wait: the log's tee
say "demo: the page from their runs"
if timeout ${PAGE_S:-60} python3 -m benchmarks.perf.transfer_demo --device "$DEVICE" --tasks $TASKS --train-per-class $SIZES \
  --val-per-class $VAL --seeds $SEEDS --epochs $EPOCHS --no-variants --workers 1 --root "$ROOT" --runs "$RUNS" \
  --out "$OUT" > "$WORK/logs/demo_page.log" 2>&1; then
  sed -n '/### The targets/,/### Every seed/p' "$OUT/finetune.md"
else
  say "page failed (runs missing?): see runs.tar.gz"
fi;;
esac

say "done"
(cd "$WORK" && find runs parts logs -name '*.json' -o -name '*.md' -o -name '*.log' -o -name '*.csv' | tar czf "$OUT/runs.tar.gz" -T -)
ls -la "$OUT"
