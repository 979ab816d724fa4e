#!/bin/bash
# Device-side driver for inference_image/benchmarks (copied here by the gpu helper; see RESULTS.md).
# usage: bash .gpu/run.sh MAIN_TIMEOUT WARM_TIMEOUT [variants]
set -u
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error DIFFUSERS_VERBOSITY=error
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site wheels/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site
if ! python3 -c "import diffusers.pipelines.controlnet" 2>$OUT/import_err.txt; then
  echo "diffusers import failed; adding huggingface_hub 1.32"; cat $OUT/import_err.txt | tail -3
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site wheels-fallback/*.whl || exit 1
fi
python3 - <<'PY' | tee $OUT/env.txt
import sys, torch, transformers, diffusers, huggingface_hub
print(sys.version.split()[0], torch.__version__, torch.version.cuda, transformers.__version__, diffusers.__version__, huggingface_hub.__version__, torch.cuda.get_device_name(0))
PY
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv | tee -a $OUT/env.txt
mkdir -p /tmp/cache
if [ "$1" != 0 ]; then
  TORCHINDUCTOR_CACHE_DIR=/tmp/ind-main BENCH_PROCESS_START=$(date +%s.%N) timeout $1 \
    python3 -m inference_image.benchmarks.bench main --out $OUT --cache /tmp/cache/compile-cache.bin --variants ${3:-graphs,compiled} --configs "${4:-}" 2>&1 | grep -v -E "safety checker|float32" | tee $OUT/main.log
  ls -la /tmp/cache
else
  cat cache/cache.part.* > /tmp/cache/compile-cache.bin 2>/dev/null; ls -la /tmp/cache
fi
[ "$2" = 0 ] && exit 0
TORCHINDUCTOR_CACHE_DIR=/tmp/ind-warm BENCH_PROCESS_START=$(date +%s.%N) timeout $2 \
  python3 -m inference_image.benchmarks.bench warm --out $OUT --cache /tmp/cache/compile-cache.bin 2>&1 | grep -v -E "safety checker|float32" | tee $OUT/warm.log
