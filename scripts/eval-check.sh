#!/usr/bin/env bash
# eval-check.sh - `make check-eval`: qdb eval end to end on the bundled demo
# models. With no flags (the profile's datasets), qdb's top-1 must equal
# the accuracy PyTorch recorded at export and at most 2 of the 10,000
# predictions may differ from PyTorch's; the same with explicit idx: flags
# and with the test set converted to .npy (numpy); bad inputs must give one
# message naming the file and exit 1.
set -eu
cd "$(dirname "$0")/.."
QDB=${QDB:-./qdb}
OUT=${OUT:-build/eval-check}
mkdir -p "$OUT"
D=/usr/share/datasets/fashion-mnist
failed=0
fail() { echo "eval-check: FAIL $*"; failed=1; }

# json_get FILE KEY[.KEY...]
json_get() {
    /usr/bin/python3 -c 'import functools, json, sys
print(functools.reduce(lambda o, k: o[k], sys.argv[2].split("."), json.load(open(sys.argv[1]))))' "$1" "$2"
}

# The test set as .npy (uint8 images N x 28 x 28, int64 labels).
if ! [ -f "$OUT/t10k-x.npy" ]; then
    /usr/bin/python3 - "$D" "$OUT" <<'PY'
import gzip, sys, numpy as np
d, out = sys.argv[1], sys.argv[2]
x = np.frombuffer(gzip.open(d + "/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
y = np.frombuffer(gzip.open(d + "/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8).astype(np.int64)
np.save(out + "/t10k-x.npy", x); np.save(out + "/t10k-y.npy", y)
PY
fi

for m in demo_cnn demo_mbv2; do
    model=models/$m.onnx
    ref=$(json_get models/$m.qdb.json reference.top1)
    for variant in profile idx npy; do
        case $variant in
            profile) args=() ;;
            idx) args=(--eval "idx:$D/t10k-images-idx3-ubyte.gz,$D/t10k-labels-idx1-ubyte.gz") ;;
            npy) args=(--eval "npy:$OUT/t10k-x.npy,$OUT/t10k-y.npy") ;;
        esac
        if ! "$QDB" eval "$model" "${args[@]}" --json "$OUT/$m.$variant.json" > "$OUT/$m.$variant.txt" 2>&1; then
            fail "$m ($variant): qdb eval failed: $(tail -n 1 "$OUT/$m.$variant.txt")"
            continue
        fi
        top1=$(json_get "$OUT/$m.$variant.json" top1)
        if [ "$variant" = profile ]; then
            diff=$(json_get "$OUT/$m.$variant.json" predictions_differing_from_reference)
            if [ "$diff" -gt 2 ]; then
                fail "$m: $diff predictions differ from PyTorch's (at most 2 allowed)"
            fi
            echo "eval-check: $m top-1 $top1 (PyTorch recorded $ref), predictions differing: $diff"
        fi
        if ! /usr/bin/python3 -c "import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 2e-4)" "$top1" "$ref"; then
            fail "$m ($variant): top-1 $top1, PyTorch recorded $ref"
        fi
    done
done

# An image folder (one sub-folder per class, grayscale PNGs written here from
# the first 200 test images) must score exactly as the same 200 from IDX.
if ! [ -d "$OUT/folder" ]; then
    /usr/bin/python3 - "$D" "$OUT/folder" <<'PY'
import gzip, os, struct, sys, zlib
import numpy as np
d, out = sys.argv[1], sys.argv[2]
x = np.frombuffer(gzip.open(d + "/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
y = np.frombuffer(gzip.open(d + "/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
for i in range(200):
    os.makedirs("%s/%d" % (out, y[i]), exist_ok=True)
    raw = b"".join(b"\0" + x[i, r].tobytes() for r in range(28))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    open("%s/%d/%04d.png" % (out, y[i], i), "wb").write(png)
PY
fi
"$QDB" eval models/demo_cnn.onnx --eval "dir:$OUT/folder" --json "$OUT/dir.json" > "$OUT/dir.txt" 2>&1 ||
    fail "dir: eval failed: $(tail -n 1 "$OUT/dir.txt")"
"$QDB" eval models/demo_cnn.onnx --eval-n 200 --json "$OUT/first200.json" > "$OUT/first200.txt" 2>&1 ||
    fail "idx eval of 200 failed: $(tail -n 1 "$OUT/first200.txt")"
if [ -f "$OUT/dir.json" ] && [ -f "$OUT/first200.json" ]; then
    a=$(json_get "$OUT/dir.json" top1)
    b=$(json_get "$OUT/first200.json" top1)
    if [ "$a" != "$b" ]; then
        fail "image folder top-1 $a, the same 200 images from IDX $b"
    else
        echo "eval-check: image folder of 200 PNGs: top-1 $a, as from IDX"
    fi
fi

# Bad inputs: exit 1 and one message naming the file.
expect_error() {
    want=$1
    shift
    if "$QDB" "$@" > "$OUT/err.txt" 2>&1; then
        fail "expected an error from: qdb $*"
    elif [ "$(wc -l < "$OUT/err.txt")" -ne 1 ] || ! grep -q -- "$want" "$OUT/err.txt"; then
        fail "qdb $*: expected one line naming '$want', got: $(cat "$OUT/err.txt")"
    fi
}
head -c 1000 "$D/t10k-images-idx3-ubyte.gz" > "$OUT/trunc.gz"
expect_error "$OUT/trunc.gz" eval models/demo_cnn.onnx --eval "idx:$OUT/trunc.gz"
expect_error "t10k-images-idx3-ubyte.gz" eval models/demo_cnn.onnx \
    --eval "idx:$D/t10k-images-idx3-ubyte.gz,$D/train-labels-idx1-ubyte.gz"
expect_error "nonexistent.npy" eval models/demo_cnn.onnx --eval "npy:$OUT/nonexistent.npy"
expect_error "--eval-n" eval models/demo_cnn.onnx --eval-n 0
expect_error "t10k-images-idx3-ubyte.gz: 20000 samples" eval models/demo_cnn.onnx --eval-n 20000
/usr/bin/python3 -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.zeros((2, 3, 28, 28), numpy.float32))' \
    "$OUT/rgb.npy"
expect_error "rgb.npy: samples of shape \[3,28,28\] do not fit" eval models/demo_cnn.onnx \
    --eval "npy:$OUT/rgb.npy"

if [ "$failed" = 0 ]; then echo "eval-check: all PASS"; else echo "eval-check: FAILED"; fi
exit "$failed"
