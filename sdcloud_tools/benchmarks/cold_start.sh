#!/bin/bash
# Cold start of the inference container's server: process start to GET /ping answering 200, and to its
# libraries (torch, diffusers...) loaded, twice (the first start also compiles the carried packages'
# bytecode, which a built image has done already).
#   bash sdcloud_tools/benchmarks/cold_start.sh   (from the repository root, on the GPU machine)
# .gpu/wheels: diffusers, peft, open-clip-torch; .gpu/serve-wheels: the server's own dependencies.
set -u
OUT=${OUT:-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-cache-dir --target /tmp/site .gpu/wheels/*.whl .gpu/serve-wheels/*.whl
export PYTHONPATH=$PWD:/tmp/site HF_HUB_OFFLINE=1 AWS_DEFAULT_REGION=us-east-1 SDCLOUD_MODEL_CACHE_DIR=/tmp/serve-cache
python3 -m compileall -q inference_image api_schema >/dev/null
for attempt in 1 2; do
  start=$(date +%s.%N)
  SDCLOUD_FAST_PATH=${SDCLOUD_FAST_PATH:-graphs} python3 -m inference_image.server >"/tmp/serve-$attempt.log" 2>&1 &
  server=$!
  python3 - "$start" "$attempt" <<'PY' | tee -a "$OUT/cold_start.txt"
import json, sys, time, urllib.request
start, ready = float(sys.argv[1]), None
while time.time() - start < 120:
    try:
        with urllib.request.urlopen("http://localhost:8080/ping", timeout=1) as ping:
            ready = ready or time.time() - start
            if json.load(ping).get("libraries") == "loaded":
                print(f"start {sys.argv[2]}: /ping 200 after {ready:.2f} s, libraries loaded after {time.time() - start:.2f} s")
                break
    except OSError:
        pass
    time.sleep(0.05)
else:
    print(f"start {sys.argv[2]}: /ping 200 after {ready} s, libraries not loaded within 120 s")
PY
  kill $server; wait $server 2>/dev/null
done
