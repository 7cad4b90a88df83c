#!/usr/bin/env bash
# The GPU figures of results/gpu/ (issue 12), in one call on a lent GPU machine:
#   1. which fast path pays on the GPU (benchmarks/perf/fast_ablation.py, three families);
#   2. `zoo speed` fp32, batch 1 and 16, every Kinetics-400 entry with a PyTorchVideo counterpart;
#   3. the same in bf16, plus the top-1 agreement of bf16 with fp32 on the demo set;
#   4. end to end: a 10x3 X3D-XS evaluation of 64 rendered videos with the model on the GPU and 2,
#      8 or 15 decoding workers, beside the model-only rate (benchmarks/perf/eval_throughput.py),
#      views of several videos per forward pass.
# Each step has its own time limit and writes its files row by row, so a cut-off run keeps
# what it measured. Run from the repository root:  OUT=results/gpu bash benchmarks/perf/gpu_speed.sh
# On a bare machine without the project's dependencies, put their pure-Python packages in
# .gpu/site and wheels (PyAV) in .gpu/ (both git-ignored); they are used when present.
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
if [ -d .gpu ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl || exit 1
  export PYTHONPATH=$PWD:$PWD/.gpu/site:/tmp/site
fi
export PYTHONUNBUFFERED=1 TORCH_HOME=${TORCH_HOME:-/tmp/torch} XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/cache}
nvidia-smi -L
# PyTorchVideo (the reference column) only for the steps that measure it: e2e runs our model alone
STEPS=${STEPS:-"ablation fp32 bf16 e2e"}
case " $STEPS " in *" ablation "*|*" fp32 "*|*" bf16 "*) REFERENCE="import pytorchvideo.models.hub";; *) REFERENCE="";; esac
python3 -c "import torch, torchvision, av; $REFERENCE
print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'av', av.__version__, torch.cuda.get_device_name(0))" || exit 1
ENTRIES="c2d_r50_8x8_kinetics400 i3d_r50_8x8_kinetics400 slow_r50_4x16_kinetics400 slow_r50_8x8_kinetics400
 slowfast_r50_4x16_kinetics400 slowfast_r50_8x8_kinetics400 slowfast_r101_8x8_kinetics400 slowfast_r101_16x8_kinetics400
 x3d_xs_4x12_kinetics400 x3d_s_13x6_kinetics400 x3d_m_16x5_kinetics400 x3d_l_16x5_kinetics400
 r2plus1d_r50_16x4_kinetics400 csn_r101_32x2_kinetics400 mvit_b_16x4_kinetics400 mvit_b_32x3_kinetics400"
SETTING="One GPU, batch 1 and 16 (the views of a 10x3 evaluation go through in batches), random weights with random batch-norm statistics shared by the reference and ours, interleaved repetitions, median; fp32 rows are full fp32 (TF32 off), bf16 rows run every column under autocast; fast = zoo.optimize's CUDA defaults (fast paths column). ${NOTE:-}"
# STEPS picks the steps (above); BF16_ENTRIES narrows step 3; rows already in $OUT/speed.csv are kept (--resume)
REPS=${REPS:-10}
case " $STEPS " in *" ablation "*)
timeout ${ABLATION_S:-110} python3 -m benchmarks.perf.fast_ablation x3d_xs_4x12_kinetics400 slowfast_r50_8x8_kinetics400 \
  mvit_b_16x4_kinetics400 --device cuda --batch 1,16 --dtype fp32,bf16 --reps $REPS --out "$OUT";; esac
case " $STEPS " in *" fp32 "*)
timeout ${FP32_S:-200} python3 -m benchmarks.cli speed $ENTRIES --device cuda --fast --batch 1,16 --reps $REPS --no-data \
  --resume --setting "$SETTING" --out "$OUT";; esac
case " $STEPS " in *" bf16 "*)
timeout ${BF16_S:-230} python3 -m benchmarks.cli speed ${BF16_ENTRIES:-$ENTRIES} --device cuda --fast --dtype bf16 --batch 1,16 \
  --reps $REPS --no-data $([ -n "${BF16_ENTRIES:-}" ] || echo --agreement) --resume --setting "$SETTING" --out "$OUT";; esac
case " $STEPS " in *" e2e "*)
timeout ${E2E_S:-150} python3 -m benchmarks.perf.eval_throughput --model x3d_xs --views 10x3 --videos ${E2E_VIDEOS:-64} \
  --workers 2 8 15 --view-buffers 8 --fast --device cuda --batch-size ${E2E_BATCH:-120} --rounds ${E2E_ROUNDS:-1} \
  --report "$OUT/eval_throughput.json" --table "$OUT/eval_throughput.md";; esac
ls -la "$OUT"
