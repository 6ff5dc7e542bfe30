#!/usr/bin/env bash
# demo.sh - `make demo`: qdb's main job on the bundled demo. Until the
# quantization front end lands, the demo is the float engine on a real
# PyTorch export: MobileNetV2 (torchvision architecture, seeded random
# weights, exported by models/export_torchvision.py), listed with `qdb info`,
# run with `qdb infer` at batch 2, and compared with onnxruntime.
set -eu
cd "$(dirname "$0")/.."
. scripts/peer-lib.sh
QDB=${QDB:-./qdb}

peer_setup
model="$PEER_DIR/mobilenet_v2.onnx"
echo "\$ qdb info $model   (first and last layers)"
"$QDB" info "$model" > "$PEER_DIR/demo-info.txt"
head -n 14 "$PEER_DIR/demo-info.txt"
echo "      ..."
tail -n 6 "$PEER_DIR/demo-info.txt"
echo
echo "\$ qdb infer $model --input $PEER_DIR/X.npy --output $PEER_DIR/demo-Y.npy"
start=$(date +%s%N)
"$QDB" infer "$model" --input "$PEER_DIR/X.npy" --output "$PEER_DIR/demo-Y.npy"
end=$(date +%s%N)
echo "done in $(( (end - start) / 1000000 )) ms (load + 2 images)"
echo
echo "\$ compare with onnxruntime (rtol 1e-4, atol 1e-5)"
node bench/ort.js run "$model" "$PEER_DIR/X.npy" "$PEER_DIR/demo-ort.npy" > /dev/null
node bench/ort.js compare "$PEER_DIR/demo-Y.npy" "$PEER_DIR/demo-ort.npy" --rtol 1e-4 --atol 1e-5
