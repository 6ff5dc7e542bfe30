#!/usr/bin/env bash
# plot.sh - times `qdb plot --all` on the MobileNetV2-shaped demo model (every
# layer's figures through one gnuplot process), PNG and SVG, and prints the
# figures per second. QDB (default ./qdb), OUT (default build/bench-plot).
set -eu
QDB=${QDB:-./qdb}
OUT=${OUT:-build/bench-plot}
MODEL=${MODEL:-models/demo_mbv2.onnx}
mkdir -p "$OUT"
for fmt in png svg; do
    rm -rf "$OUT/$fmt"
    line=$("$QDB" plot "$MODEL" --all --out "$OUT/$fmt" --format "$fmt" | tail -1)
    # "N figures (fmt) in S s, P gnuplot process..."
    echo "$line" | awk -v m="$(basename "$MODEL")" '{ printf "plot --all %-14s %3d figures %-5s %6.2f s  %5.1f figures/s  (%s %s %s)\n", m, $1, $3, $5, $1 / $5, $7, $8, $9 }'
done
