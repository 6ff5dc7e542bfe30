#!/usr/bin/env bash
# deps.sh - installs the Debian packages that qdb's build, tests, demo and
# benchmarks need, only those missing. Called by `make deps` (and so by
# `make check`, `make demo`, `make bench`). Needs root or sudo to install;
# otherwise prints the apt-get command to run.
set -eu

# build: compiler tool chain, protobuf-c and the ONNX schema, BLAS, JSON, zlib, images
# tests: cmocka, ONNX conformance data, Fashion-MNIST, tmux (TUI tests)
# peers: python3-torch (export of reference models), node/npm (onnxruntime-node)
# plots: gnuplot; chromium (headless check of the HTML report, make check-plot)
PACKAGES="build-essential pkg-config
 protobuf-c-compiler libprotobuf-c-dev libonnx-dev
 libopenblas-dev libcjson-dev zlib1g-dev nettle-dev libstb-dev libncurses-dev libreadline-dev
 libcmocka-dev libonnx-testdata dataset-fashion-mnist tmux gnuplot-nox
 clang libclang-rt-14-dev valgrind
 python3-torch python3-torchvision python3-onnx python3-numpy nodejs npm
 chromium"

missing=""
for p in $PACKAGES; do
    # A package is present when dpkg reports it installed.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        # nodejs/npm may come from elsewhere (nvm, NodeSource): accept the commands.
        case "$p" in
            nodejs) command -v node >/dev/null 2>&1 && continue ;;
            npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "qdb: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "qdb: cannot install packages (not root, no sudo). Run as root:" >&2
        echo "  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing; }; then
    echo "qdb: apt-get could not install:$missing" >&2
    echo "  check the network and the apt sources, then run: make deps" >&2
    exit 1
fi
