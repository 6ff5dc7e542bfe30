#!/bin/bash
# quant.sh - owns the quantization part of `make bench` (and of
# `make check-quant-peer`): for each demo model,
#   * qdb's 8-bit accuracy drop (qdb quantize, defaults) beside PyTorch's own
#     post-training quantization of the same ONNX weights on the same
#     calibration images (bench/torch_ptq.py: FX graph mode, histogram
#     observer, per-channel weights, fbgemm int8 kernels); qdb's drop must be
#     no worse than PyTorch's by more than 0.3 points;
#   * calibration throughput, threshold search time (every layer, all six
#     error methods), the fake-quantized evaluation's throughput against
#     float, and the time of a single-layer edit re-evaluated through the
#     evaluation cache against a quantization from scratch
#     (bench/bench_quant.c).
# Prints a table; keeps the JSON lines in $PEER_DIR/quant.jsonl.
#
# Environment: BUILD (default build), QDB (default ./qdb), PEER_DIR (default
# build/peer), QUANT_MODELS (default: both demo models), QUANT_SPEED=0 skips
# the speed figures (the accuracy comparison only).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
QDB=${QDB:-./qdb}
PEER_DIR=${PEER_DIR:-build/peer}
MODELS=${QUANT_MODELS:-demo_cnn demo_mbv2}
SPEED=${QUANT_SPEED:-1}
mkdir -p "$PEER_DIR"
JSONL="$PEER_DIR/quant.jsonl"
: >"$JSONL"
failed=0

if [ "$SPEED" = 1 ]; then
    make -s --no-print-directory "BUILD=$BUILD" "$BUILD/bench/bench_quant"
fi
for m in $MODELS; do
    echo "bench: quantizing $m with qdb" >&2
    rep="$PEER_DIR/$m.quant.json"
    if ! "$QDB" quantize "models/$m.onnx" --report "$rep" >/dev/null; then
        echo "bench: qdb quantize failed on $m" >&2
        failed=1
        continue
    fi
    /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"model": sys.argv[2], "runtime_name": "qdb", "float_top1": r["float_accuracy"],
                  "quant_top1": r["quant_accuracy"], "delta": r["delta"], "calib_n": r["calibration_samples"]}))' \
        "$rep" "$m" >>"$JSONL"
    echo "bench: quantizing $m with PyTorch" >&2
    if out=$(/usr/bin/python3 bench/torch_ptq.py --model "models/$m.onnx" --calib-n 1024 --seed 0 2>>"$PEER_DIR/quant.err"); then
        printf '%s\n' "$out" | tail -n 1 | sed 's/^{/{"runtime_name":"pytorch",/' >>"$JSONL"
    else
        echo "bench: bench/torch_ptq.py failed on $m (see $PEER_DIR/quant.err)" >&2
        failed=1
    fi
    if [ "$SPEED" = 1 ]; then
        echo "bench: quantization speed on $m" >&2
        if out=$("$BUILD/bench/bench_quant" "models/$m.onnx" 2>>"$PEER_DIR/quant.err"); then
            printf '%s\n' "$out" | sed 's/^{/{"runtime_name":"bench_quant",/' >>"$JSONL"
        else
            echo "bench: bench_quant failed on $m" >&2
            failed=1
        fi
    fi
done

/usr/bin/python3 - "$JSONL" <<'PY' || failed=1
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    name = os.path.basename(r["model"]).replace(".onnx", "")
    by.setdefault(name, {})[r["runtime_name"]] = r
bad = 0
print("8-bit post-training quantization, Fashion-MNIST test set (10,000 images), 1024 calibration images")
print("%-10s %9s %9s %9s   %9s %9s %9s   %s" % ("model", "float", "qdb", "qdb d", "torch fl.", "torch", "torch d", "verdict"))
for m, v in by.items():
    q, t = v.get("qdb"), v.get("pytorch")
    if not q or not t:
        print("%-10s missing results" % m)
        bad = 1
        continue
    ok = q["delta"] >= t["delta"] - 0.003 - 1e-12
    bad |= not ok
    print("%-10s %8.2f%% %8.2f%% %+8.2f   %8.2f%% %8.2f%% %+8.2f   %s" % (
        m, 100 * q["float_top1"], 100 * q["quant_top1"], 100 * q["delta"], 100 * t["float_top1"],
        100 * t["quant_top1"], 100 * t["delta"],
        "ok (qdb's drop within 0.3 points of PyTorch's)" if ok else "FAIL: qdb drops more than PyTorch + 0.3"))
sp = [(m, v["bench_quant"]) for m, v in by.items() if "bench_quant" in v]
if sp:
    print()
    print("%-10s %7s %12s %12s %12s %12s %10s %10s" % ("model", "layers", "calib img/s", "search ms",
          "float img/s", "sim img/s", "overhead", "vs source"))
    for m, b in sp:
        print("%-10s %7d %12.0f %12.1f %12.0f %12.0f %9.1f%% %9.1f%%" % (
            m, b["layers"], b["calib_images_per_s"], b["quantize_ms"], b["float_images_per_s"],
            b["quant_images_per_s"], 100 * b["sim_overhead"], 100 * b["overhead_vs_source"]))
    print()
    print("%-10s %12s %16s %16s %16s" % ("model", "scratch ms", "edit first (x)", "edit middle (x)", "edit last (x)"))
    for m, b in sp:
        sc = b["scratch_ms"]
        cell = lambda t: "%8.0f (%4.1fx)" % (t, sc / t if t > 0 else 0)
        print("%-10s %12.0f %16s %16s %16s" % (m, sc, cell(b["edit_first_ms"]), cell(b["edit_mid_ms"]),
              cell(b["edit_last_ms"])))
    print()
    print("%-10s %8s %12s %12s %12s %14s" % ("model", "layers", "median ms", "worst ms", "under 1 s", "5x or better"))
    for m, b in sp:
        ev = sorted(b.get("edit_every_ms", []))
        if not ev:
            continue
        sc = b["scratch_ms"]
        n = len(ev)
        med = ev[n // 2] if n % 2 else (ev[n // 2 - 1] + ev[n // 2]) / 2
        print("%-10s %8d %12.0f %12.0f %11d%% %13d%%" % (m, n, med, ev[-1],
              round(100 * sum(t < 1000 for t in ev) / n), round(100 * sum(sc / t >= 5 for t in ev) / n)))
    print("edit: one single-layer rule (4-bit activations on the first, a middle or the last layer;")
    print("below, on every layer in turn), quantized again and re-evaluated on all 10,000 test images")
    print("through the evaluation cache; scratch: calibration, quantization and a full evaluation.")
    print("Goal: well under a second, 5x.")
    print()
    print("search ms: thresholds of every layer with all six error methods, shift-negative")
    print("correction, weight quantization and bias correction. overhead: simulated network")
    print("against the float graph it is built on (goal < 15 %); vs source: against the model as")
    print("loaded (shift-negative correction adds nodes). Best of three alternating runs each.")
sys.exit(1 if bad else 0)
PY
if [ "$failed" != 0 ]; then
    echo "bench: quantization figures incomplete or a check failed" >&2
    exit 1
fi
