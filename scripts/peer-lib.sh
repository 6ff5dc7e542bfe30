# peer-lib.sh - owns the setup shared by scripts/peer-check.sh and
# bench/run.sh: the pinned onnxruntime-node install (bench/node_modules, from
# bench/package-lock.json) and the exported peer models (cached in
# $PEER_DIR, default build/peer). Sourced, not run; the caller has done
# `set -eu` and cd'ed to the repository root.
# shellcheck shell=bash

PEER_DIR=${PEER_DIR:-build/peer}
PEER_MODELS="mobilenet_v2 resnet18"
# Debian's interpreter: the python3 first on PATH may not see python3-torch.
PEER_PYTHON=${PEER_PYTHON:-/usr/bin/python3}

peer_say() { printf '%s\n' "$*"; }

# bench/node_modules from the lockfile, with `npm ci`, when missing or older
# than the lockfile. onnxruntime-node bundles its CPU binaries; its install
# script only fetches optional GPU ones from outside the registry, so it is
# skipped.
peer_ensure_node_modules() {
    if ! command -v node >/dev/null 2>&1; then
        peer_say "peer: 'node' not found: install Debian's nodejs and npm (make deps)" >&2
        return 1
    fi
    stamp=bench/node_modules/.package-lock.json
    if [ -f bench/node_modules/onnxruntime-node/package.json ] && [ -f "$stamp" ] &&
        ! [ bench/package-lock.json -nt "$stamp" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        peer_say "peer: 'npm' not found: install Debian's npm (make deps)" >&2
        return 1
    fi
    peer_say "peer: installing onnxruntime-node into bench/node_modules (npm ci)"
    if ! ONNXRUNTIME_NODE_INSTALL=skip npm --prefix bench ci --ignore-scripts \
            --no-audit --no-fund --loglevel=error >"$PEER_DIR/npm-ci.log" 2>&1; then
        peer_say "peer: 'npm ci' failed; the npm registry may be unreachable (offline?)." >&2
        peer_say "peer: log: $PEER_DIR/npm-ci.log (last lines below). Retry when online:" >&2
        peer_say "peer:     (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts)" >&2
        tail -n 5 "$PEER_DIR/npm-ci.log" | sed 's/^/    /' >&2
        return 1
    fi
}

# The models, X.npy and PyTorch's outputs, exported when missing or older
# than the export script.
peer_ensure_models() {
    fresh=1
    for m in $PEER_MODELS; do
        for f in "$PEER_DIR/$m.onnx" "$PEER_DIR/$m.torch.npy"; do
            if ! [ -f "$f" ] || [ models/export_torchvision.py -nt "$f" ]; then fresh=0; fi
        done
    done
    if ! [ -f "$PEER_DIR/X.npy" ] || [ models/export_torchvision.py -nt "$PEER_DIR/X.npy" ]; then fresh=0; fi
    [ "$fresh" = 1 ] && return 0
    if ! "$PEER_PYTHON" -c 'import torch, torchvision, numpy' >/dev/null 2>&1; then
        peer_say "peer: $PEER_PYTHON cannot import torch/torchvision/numpy: install Debian's" >&2
        peer_say "peer: python3-torch python3-torchvision python3-numpy (make deps)" >&2
        return 1
    fi
    peer_say "peer: exporting the peer models into $PEER_DIR"
    if ! "$PEER_PYTHON" models/export_torchvision.py "$PEER_DIR" >"$PEER_DIR/export.log" 2>&1; then
        peer_say "peer: model export failed; log: $PEER_DIR/export.log" >&2
        tail -n 15 "$PEER_DIR/export.log" | sed 's/^/    /' >&2
        return 1
    fi
}

peer_setup() {
    mkdir -p "$PEER_DIR" || return 1
    # Explicit returns: callers test peer_setup in an `if`, where set -e is off.
    peer_ensure_node_modules || return 1
    peer_ensure_models || return 1
}
