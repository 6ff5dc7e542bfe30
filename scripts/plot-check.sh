#!/usr/bin/env bash
# plot-check.sh - qdb plot and qdb report end to end on the bundled
# MobileNetV2-shaped demo model, checking the files for real: every figure
# of `plot --all` is a PNG of the size asked with its .dat and .gp beside
# it, a script re-runs by hand, SVG parses as XML, PDF has its header, a
# missing gnuplot and a missing output directory give clear errors; the
# HTML report opened in headless Chromium loads every image (the page sets
# its title to "images N/M loaded") and is screenshotted.
# QDB (default ./qdb), OUT (default build-plot/plot-check).
set -u
QDB=${QDB:-./qdb}
OUT=${OUT:-build-plot/plot-check}
MODEL=${MODEL:-models/demo_mbv2.onnx}
PY=/usr/bin/python3
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# 1. every layer, PNG at 640x360; one gnuplot process
start=$(date +%s.%N)
if ! "$QDB" plot "$MODEL" --all --out "$OUT/png" --size 640x360 --grid >"$OUT/plot.log" 2>&1; then
    bad "qdb plot --all (see $OUT/plot.log)"; tail -5 "$OUT/plot.log"
fi
end=$(date +%s.%N)
n_png=$(ls "$OUT"/png/*.png 2>/dev/null | wc -l)
n_gp=$(ls "$OUT"/png/*.gp 2>/dev/null | wc -l)
n_dat=$(ls "$OUT"/png/*.dat 2>/dev/null | wc -l)
if [ "$n_png" -gt 30 ] && [ "$n_png" -eq "$n_gp" ] && [ "$n_png" -eq "$n_dat" ]; then
    ok "plot --all: $n_png PNG figures, each with its .dat and .gp"
else
    bad "plot --all: $n_png png, $n_gp gp, $n_dat dat"
fi
grep -q "1 gnuplot process" "$OUT/plot.log" && ok "one gnuplot process" || bad "not one gnuplot process: $(tail -1 "$OUT/plot.log")"
$PY - "$OUT/png" <<'PYEOF' && ok "every PNG: signature and 640x360" || bad "PNG signature or size"
import struct, sys, glob
files = glob.glob(sys.argv[1] + "/*.png")
for f in files:
    b = open(f, "rb").read(24)
    assert b[:8] == b"\x89PNG\r\n\x1a\n", f
    assert b[12:16] == b"IHDR", f
    w, h = struct.unpack(">II", b[16:24])
    assert (w, h) == (640, 360), (f, w, h)
assert files
PYEOF
# histogram counts sum to the values the title states
$PY - "$OUT/png" <<'PYEOF' && ok "histogram data sums to the calibration values" || bad "histogram sums"
import sys, glob, re
for f in glob.glob(sys.argv[1] + "/act_*.dat"):
    total = None; s = 0.0
    for line in open(f):
        if line.startswith("# values:"):
            total = float(line.split()[2])
        if not line.strip():
            break
        if line[0] != "#":
            s += float(line.split()[2])
    assert total and abs(s - total) <= 1e-9 * total, (f, s, total)
PYEOF
# a script re-runs by hand
gp=$(ls "$OUT"/png/act_001_*.gp | head -1)
base=$(basename "$gp" .gp)
rm -f "$OUT/png/$base.png"
if (cd "$OUT/png" && gnuplot "$base.gp") 2>"$OUT/rerun.log" && [ -s "$OUT/png/$base.png" ]; then
    ok "gnuplot $base.gp re-runs by hand"
else
    bad "re-running $base.gp"; cat "$OUT/rerun.log"
fi
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
echo "     plot --all on $(basename "$MODEL"): $n_png figures in ${secs} s (including calibration)"

# 2. SVG and PDF of one layer
layer=$(sed -n 's/^# layer: //p' "$OUT"/png/act_001_*.dat | head -1)
if "$QDB" plot "$MODEL" --layer "$layer" --out "$OUT/svg" --format svg >"$OUT/svg.log" 2>&1 &&
   $PY -c 'import sys, glob, xml.dom.minidom
fs = glob.glob(sys.argv[1] + "/*.svg"); assert fs
for f in fs:
    xml.dom.minidom.parse(f)
t = open(glob.glob(sys.argv[1] + "/act_*.svg")[0]).read()
assert "MSE" in t and "NOCLIPPING" in t' "$OUT/svg"; then
    ok "SVG of '$layer' parses as XML, shows the threshold labels"
else
    bad "SVG"; cat "$OUT/svg.log"
fi
if "$QDB" plot "$MODEL" --layer "$layer" --out "$OUT/pdf" --format pdf >"$OUT/pdf.log" 2>&1 &&
   [ "$(head -c 5 "$(ls "$OUT"/pdf/act_*.pdf | head -1)")" = "%PDF-" ]; then
    ok "PDF header"
else
    bad "PDF"; cat "$OUT/pdf.log"
fi

# 3. errors
mkdir -p "$OUT/emptybin"
msg=$(env PATH="$OUT/emptybin" "$QDB" plot "$MODEL" --all --out "$OUT/nogp" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$msg" | grep -q "gnuplot-nox"; then
    ok "gnuplot absent: exit $rc, says to install gnuplot-nox"
else
    bad "gnuplot absent: rc $rc: $msg"
fi
msg=$("$QDB" plot "$MODEL" --all --out "$OUT/no/such/dir" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$msg" | grep -q "parent does not exist"; then
    ok "missing output directory: exit $rc, clear message"
else
    bad "missing output directory: rc $rc: $msg"
fi

# 4. the report, in headless Chromium
if "$QDB" report "$MODEL" --rule "type=Concat : act_bits=16" --out "$OUT/report" >"$OUT/report.log" 2>&1 &&
   [ -s "$OUT/report/report.html" ] && [ -s "$OUT/report/report.md" ]; then
    ok "report: $(tail -1 "$OUT/report.log")"
else
    bad "report"; tail -5 "$OUT/report.log"
fi
if grep -q "https\?://" "$OUT/report/report.html"; then bad "report links to the network"; fi
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    bad "chromium not installed (Debian package chromium; run make deps)"
else
    flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000"
    title=$(timeout 120 "$CHROME" $flags --dump-dom "file://$OUT/report/report.html" 2>/dev/null |
            sed -n 's:.*<title>\(.*\)</title>.*:\1:p')
    n_img=$(grep -o '<img ' "$OUT/report/report.html" | wc -l)
    if [ "$n_img" -gt 0 ] && [ "$title" = "qdb report: images $n_img/$n_img loaded" ]; then
        ok "Chromium: $title"
    else
        bad "Chromium: title '$title', $n_img images in the page"
    fi
    timeout 120 "$CHROME" $flags --window-size=1200,2400 --screenshot="$OUT/report.png" \
        "file://$OUT/report/report.html" >/dev/null 2>&1
    $PY - "$OUT/report.png" <<'PYEOF' && ok "screenshot $OUT/report.png" || bad "screenshot"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", b[16:24]) == (1200, 2400)
assert len(b) > 20000  # not a blank page
PYEOF
fi

if [ $fails -ne 0 ]; then
    echo "plot-check: $fails check(s) failed"
    exit 1
fi
echo "plot-check: all passed"
