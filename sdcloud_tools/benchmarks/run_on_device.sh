#!/bin/bash
# The benchmark on a GPU machine, from the repository root (see RESULTS.md, "Reproduce"):
#   bash sdcloud_tools/benchmarks/run_on_device.sh MAIN_TIMEOUT WARM_TIMEOUT [bench main arguments...]
# e.g. `... 590 0 --arch sdxl --variants torch-compile,compiled --levers compiled-cudnn,compiled-vae32`.
# $WHEELS (default .gpu/wheels) holds what the GPU image lacks (diffusers, open-clip-torch, the server's
# packages). The warm phase (of the same --arch) runs when WARM_TIMEOUT is not 0; the server's cold start is
# measured by cold_start.sh.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error DIFFUSERS_VERBOSITY=error
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-4} BENCH_BUILD_WORKERS=${BENCH_BUILD_WORKERS:-8}
OUT=${OUT:-out}
WORK=${WORK:-/tmp/bench-work}
WHEELS=${WHEELS:-.gpu/wheels}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$WORK/artifacts/inductor-cache}  # as `serve` sets it
mkdir -p "$OUT" "$WORK"
# The inference image installs no scikit-learn; the GPU machine's image has it, and transformers imports it when it
# is there (2.4 s of run 14's 22.9 s of library imports): the warm start is measured without it, as the image has it.
python3 -m pip uninstall -q -y scikit-learn 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site
python3 - <<'PY' | tee "$OUT/env.txt"
import sys, torch, transformers, diffusers
print(sys.version.split()[0], torch.__version__, torch.version.cuda, transformers.__version__, diffusers.__version__, torch.cuda.get_device_name(0), torch.backends.cudnn.version())
PY
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv | tee -a "$OUT/env.txt"

main_timeout=$1 warm_timeout=$2
shift 2
arch=sd15
previous=
for arg in "$@"; do [ "$previous" = --arch ] && arch=$arg; previous=$arg; done
if [ "$main_timeout" != 0 ]; then
  BENCH_PROCESS_START=$(date +%s.%N) BENCH_DEADLINE_S=$((main_timeout - 25)) timeout "$main_timeout" \
    python3 -m sdcloud_tools.benchmarks.bench main --out "$OUT" --work "$WORK" "$@" 2>&1 \
    | grep -v -E "safety checker|float32|deprecat" | tee "$OUT/main.log"
  ls -la "$WORK/artifacts" | tee "$OUT/artifacts.txt"
  grep -h "compile" "$WORK"/artifacts/*.log >>"$OUT/artifacts.txt"
fi
[ "$warm_timeout" = 0 ] && exit 0
# A fresh process; drop the page cache where allowed, so the checkpoint is read from disk
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && echo "page cache dropped" | tee -a "$OUT/env.txt"
# (with the container's own Inductor settings: the compile-thread cap above is for the builds of `main`)
BENCH_PROCESS_START=$(date +%s.%N) timeout "$warm_timeout" env -u TORCHINDUCTOR_COMPILE_THREADS python3 -m sdcloud_tools.benchmarks.bench warm --arch "$arch" --out "$OUT" \
  --work "$WORK" 2>&1 | grep -v -E "safety checker|float32|deprecat" | tee "$OUT/warm.log"
