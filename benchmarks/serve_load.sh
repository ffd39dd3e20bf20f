#!/usr/bin/env bash
# Load test of `isp serve`: requests/s and latency percentiles, dense vs pruned at the model's
# stored operating point, at 1, 2 and 8 concurrent clients, measured with wrk (Debian's wrk).
#   benchmarks/serve_load.sh [MODEL] [IMAGE] [SECONDS] [ROUNDS]
# MODEL defaults to models/vgg16-fd.safetensors, IMAGE to a Fashion-MNIST test image written as
# PNG. Dense and pruned alternate ROUNDS times (the VM's speed drifts); one table row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
isp=.build/release/isp
model=${1:-models/vgg16-fd.safetensors}
seconds=${3:-10}
rounds=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT
image=${2:-$work/image.png}
[ -f "$image" ] || python3 scripts/fashion_png.py "$image"
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$image", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
LUA
isa=$(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)
echo "# isp serve load test, $(date -u +%F), $(nproc) cores ($isa), $model, wrk ${seconds}s per run"
echo "| mode | clients | requests/s | p50 ms | p90 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
run() {  # mode, extra flags
    "$isp" serve "$model" --port 0 $2 2> "$work/serve.err" &
    local pid=$!
    local base=""
    for _ in $(seq 200); do
        base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.err" || true)
        [ -n "$base" ] && break
        sleep 0.05
    done
    for clients in 1 2 8; do
        wrk -t "$(( clients < 2 ? 1 : 2 ))" -c "$clients" -d "${seconds}s" --latency -s "$work/post.lua" "$base/v1/classify" > "$work/wrk.txt"
        local rps p50 p90 p99 errors
        rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
        p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
        p90=$(awk '$1 == "90%" {print $2}' "$work/wrk.txt")
        p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
        errors=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
        echo "| $1 | $clients | $rps | $p50 | $p90 | $p99 | ${errors:-0} |"
    done
    kill -TERM "$pid"; wait "$pid"
}
for _ in $(seq "$rounds"); do
    run dense --dense
    run pruned ""
done
