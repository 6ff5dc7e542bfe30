#!/bin/bash
# peer-check.sh - owns `make check-peer`: qdb's float inference checked
# against onnxruntime (npm onnxruntime-node, pinned in bench/package-lock.json)
# on torchvision's mobilenet_v2 and resnet18 (seeded random weights, exported
# by models/export_torchvision.py into build/peer/) at batch 2. Per model:
# `qdb info`, `qdb infer`, onnxruntime's output, then a comparison with
# rtol 1e-4 / atol 1e-5 (numpy.allclose); prints PASS/FAIL per model and
# exits non-zero on any failure. PyTorch's own output is shown for context.
#
# Environment: QDB (default ./qdb), PEER_DIR (default build/peer),
# PEER_RTOL, PEER_ATOL.
set -eu

cd "$(dirname "$0")/.."
. scripts/peer-lib.sh

QDB=${QDB:-./qdb}
RTOL=${PEER_RTOL:-1e-4}
ATOL=${PEER_ATOL:-1e-5}

if ! [ -x "$QDB" ]; then
    echo "peer-check: $QDB not found; run 'make qdb' first" >&2
    exit 1
fi
if ! peer_setup; then
    echo "peer-check: FAIL (setup: see above)"
    exit 1
fi

X="$PEER_DIR/X.npy"
LOG="$PEER_DIR/log"
mkdir -p "$LOG"
failed=0

# Run a command with its output in a log; on failure show the log's tail.
logged() {
    log=$1
    shift
    if "$@" >"$log" 2>&1; then
        return 0
    fi
    echo "    \$ $*" >&2
    tail -n 20 "$log" | sed 's/^/    /' >&2
    return 1
}

for m in $PEER_MODELS; do
    model="$PEER_DIR/$m.onnx"
    yq="$PEER_DIR/$m.qdb.npy"
    yo="$PEER_DIR/$m.ort.npy"
    rm -f "$yq" "$yo"
    if ! logged "$LOG/$m.info.log" "$QDB" info "$model"; then
        echo "peer-check: FAIL $m: 'qdb info' failed (log $LOG/$m.info.log)"
        failed=1
        continue
    fi
    if ! logged "$LOG/$m.infer.log" "$QDB" infer "$model" --input "$X" --output "$yq"; then
        echo "peer-check: FAIL $m: 'qdb infer' failed (log $LOG/$m.infer.log)"
        failed=1
        continue
    fi
    if ! logged "$LOG/$m.ort.log" node bench/ort.js run "$model" "$X" "$yo"; then
        echo "peer-check: FAIL $m: onnxruntime failed (log $LOG/$m.ort.log)"
        failed=1
        continue
    fi
    # Context (not gating): qdb against PyTorch's own output.
    ctx=$(node bench/ort.js compare "$yq" "$PEER_DIR/$m.torch.npy" --rtol "$RTOL" --atol "$ATOL" 2>&1 |
        sed 's/^PASS //; s/^FAIL //' || true)
    echo "peer-check: info $m qdb vs pytorch:     $ctx"
    if res=$(node bench/ort.js compare "$yq" "$yo" --rtol "$RTOL" --atol "$ATOL" 2>&1); then
        echo "peer-check: PASS $m qdb vs onnxruntime: ${res#PASS }"
    else
        echo "peer-check: FAIL $m qdb vs onnxruntime: ${res#FAIL }"
        failed=1
    fi
done

if [ "$failed" = 0 ]; then
    echo "peer-check: all models PASS"
else
    echo "peer-check: FAILED"
fi
exit "$failed"
