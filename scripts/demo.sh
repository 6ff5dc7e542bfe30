#!/usr/bin/env bash
# demo.sh - `make demo`: qdb's main job on the bundled demo models (trained
# on Fashion-MNIST by models/train_demo.py and committed): list the
# MobileNetV2-style model, evaluate both models' float accuracy with their
# profiles' defaults beside the accuracy PyTorch recorded, and quantize both
# to 8 bits (MCT's defaults) with the per-layer table.
set -eu
cd "$(dirname "$0")/.."
QDB=${QDB:-./qdb}

echo "\$ qdb info models/demo_mbv2.onnx"
"$QDB" info models/demo_mbv2.onnx
for m in demo_cnn demo_mbv2; do
    echo
    echo "\$ qdb eval models/$m.onnx"
    "$QDB" eval "models/$m.onnx"
done
for m in demo_cnn demo_mbv2; do
    echo
    echo "\$ qdb quantize models/$m.onnx"
    "$QDB" quantize "models/$m.onnx"
done
