#!/bin/bash
# Issue 8's runs on a GPU machine, from the repository root (see RESULTS.md, "Reproduce"):
#   bash inference_image/benchmarks/run_on_device.sh MAIN_TIMEOUT WARM_TIMEOUT [variants] [configs]
# .gpu/wheels holds what the GPU image lacks (diffusers, peft, open-clip-torch). The server's cold start
# is measured by cold_start.sh.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error DIFFUSERS_VERBOSITY=error
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-4} BENCH_BUILD_WORKERS=${BENCH_BUILD_WORKERS:-8}
OUT=${OUT:-out}
WORK=${WORK:-/tmp/bench-work}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$WORK/artifacts/inductor-cache}  # as `serve` sets it
mkdir -p "$OUT" "$WORK"
python3 -m pip install -q --no-index --no-deps --no-cache-dir --target /tmp/site .gpu/wheels/*.whl .gpu/serve-wheels/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site
if ! python3 -c "import diffusers.pipelines.controlnet" 2>"$OUT/import_err.txt"; then
  tail -3 "$OUT/import_err.txt"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/wheels-fallback/*.whl || exit 1
fi
python3 - <<'PY' | tee "$OUT/env.txt"
import sys, torch, transformers, diffusers
print(sys.version.split()[0], torch.__version__, torch.version.cuda, transformers.__version__, diffusers.__version__, torch.cuda.get_device_name(0), torch.backends.cudnn.version())
PY
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv | tee -a "$OUT/env.txt"

if [ "$1" != 0 ]; then
  BENCH_PROCESS_START=$(date +%s.%N) timeout "$1" python3 -m inference_image.benchmarks.bench main --out "$OUT" \
    --work "$WORK" --variants "${3:-graphs,compiled}" --configs "${4:-}" 2>&1 | grep -v -E "safety checker|float32" | tee "$OUT/main.log"
  ls -la "$WORK/artifacts" | tee "$OUT/artifacts.txt"
  grep -h "compile" "$WORK"/artifacts/*.log >>"$OUT/artifacts.txt"
fi
[ "$2" = 0 ] && exit 0
# A fresh process; drop the page cache where allowed, so the checkpoint is read from disk
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && echo "page cache dropped" | tee -a "$OUT/env.txt"
# (with the container's own Inductor settings: the compile-thread cap above is for the builds of `main`)
BENCH_PROCESS_START=$(date +%s.%N) timeout "$2" env -u TORCHINDUCTOR_COMPILE_THREADS python3 -m inference_image.benchmarks.bench warm --out "$OUT" \
  --work "$WORK" 2>&1 | grep -v -E "safety checker|float32" | tee "$OUT/warm.log"
