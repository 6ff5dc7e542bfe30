#!/bin/bash
# run.sh - owns `make bench`: float inference speed of qdb (bench_qdb, linked
# against libqdb.a) against onnxruntime (bench/ort.js) on the same models
# (torchvision mobilenet_v2 - the main target - and resnet18, exported by
# models/export_torchvision.py), the same seeded input, the same thread
# count (intra-op threads T, one inter-op thread, sequential runs). Prints a
# table of images/s, the ratio qdb/onnxruntime and peak RSS, and keeps it
# with the raw JSON lines in build/peer/bench.{txt,jsonl}.
#
# Environment: BUILD (default build), BENCH_QDB (a prebuilt bench_qdb:
# skips make), PEER_DIR (default build/peer),
# BENCH_MODELS, BENCH_THREADS, BENCH_BATCHES (space-separated lists),
# BENCH_ITERS_SMALL (timed runs for batch < 8, default 20),
# BENCH_ITERS_LARGE (timed runs for batch >= 8, default 3).
set -eu

cd "$(dirname "$0")/.."
# shellcheck source=scripts/peer-lib.sh
. scripts/peer-lib.sh

BUILD=${BUILD:-build}
BENCH_QDB=${BENCH_QDB:-}
MODELS=${BENCH_MODELS:-$PEER_MODELS}
THREADS=${BENCH_THREADS:-1 2}
BATCHES=${BENCH_BATCHES:-1 32}
ITERS_SMALL=${BENCH_ITERS_SMALL:-20}
ITERS_LARGE=${BENCH_ITERS_LARGE:-3}

if ! peer_setup; then
    echo "bench: setup failed (see above)" >&2
    exit 1
fi
if [ -z "$BENCH_QDB" ]; then
    BENCH_QDB="$BUILD/bench/bench_qdb"
    make -s --no-print-directory "BUILD=$BUILD" "$BENCH_QDB"
fi

JSONL="$PEER_DIR/bench.jsonl"
TXT="$PEER_DIR/bench.txt"
ERRLOG="$PEER_DIR/bench.err"
: >"$JSONL"
: >"$ERRLOG"
failed=0

# One measurement: runtime name, then the command; appends its JSON line, or
# an error record when it fails.
measure() {
    rt=$1 model=$2 batch=$3 threads=$4
    shift 4
    if out=$("$@" 2>>"$ERRLOG"); then
        # Tag the line with the configuration asked for, whatever it reports.
        printf '%s\n' "$out" | tail -n 1 |
            sed "s/^{/{\"key\":\"$model|$threads|$batch\",\"runtime_name\":\"$rt\",/" >>"$JSONL"
    else
        echo "bench: $rt failed on $model batch $batch threads $threads (see $ERRLOG)" >&2
        printf '{"key":"%s|%s|%s","runtime_name":"%s","error":true}\n' \
            "$model" "$threads" "$batch" "$rt" >>"$JSONL"
        failed=1
    fi
}

for m in $MODELS; do
    for t in $THREADS; do
        for b in $BATCHES; do
            if [ "$b" -ge 8 ]; then iters=$ITERS_LARGE warm=1; else iters=$ITERS_SMALL warm=3; fi
            echo "bench: $m threads $t batch $b ($iters runs)" >&2
            args=(--batch "$b" --threads "$t" --iters "$iters" --warmup "$warm")
            measure qdb "$m" "$b" "$t" "$BENCH_QDB" "$PEER_DIR/$m.onnx" "${args[@]}"
            measure onnxruntime "$m" "$b" "$t" node bench/ort.js bench "$PEER_DIR/$m.onnx" "${args[@]}"
        done
    done
done

# Memory of node with onnxruntime loaded but no session: the floor under
# onnxruntime's peak RSS figures.
ORT_FLOOR=$(node -e "require('./bench/node_modules/onnxruntime-node');
    console.log((process.resourceUsage().maxRSS / 1024).toFixed(0))" 2>/dev/null || echo "?")
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)

node - "$JSONL" "$ORT_FLOOR" "${CPU:-unknown CPU}" "$(nproc 2>/dev/null || echo '?')" >"$TXT" <<'EOF'
const fs = require('fs');
const [file, floor, cpu, ncpu] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const key = (r) => r.key;
const byKey = new Map();
for (const r of rows) {
    if (!byKey.has(key(r))) byKey.set(key(r), {});
    byKey.get(key(r))[r.runtime_name] = r;
}
const ver = (rt) => (rows.find((r) => r.runtime_name === rt && r.version) || {}).version || '?';
const fmt = (v, d) => (v === undefined || v === null ? 'error' : v.toFixed(d));
const head = ['model', 'threads', 'batch', 'qdb img/s', 'ort img/s', 'qdb/ort',
    'qdb ms/batch', 'ort ms/batch', 'qdb RSS MiB', 'ort RSS MiB'];
const table = [head];
for (const [k, v] of byKey) {
    const [model, threads, batch] = k.split('|');  // as run.sh asked
    const q = v.qdb || {}, o = v.onnxruntime || {};
    const ratio = q.images_per_s && o.images_per_s ? (q.images_per_s / o.images_per_s).toFixed(2) : '-';
    table.push([model, threads, batch, fmt(q.images_per_s, 1), fmt(o.images_per_s, 1),
        ratio, fmt(q.ms_per_batch, 1), fmt(o.ms_per_batch, 1), fmt(q.peak_rss_mb, 0), fmt(o.peak_rss_mb, 0)]);
}
const w = head.map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => (i < 1 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
const out = [];
out.push(`qdb ${ver('qdb')} vs onnxruntime ${ver('onnxruntime')} (CPU), float32, ${cpu}, ${ncpu} CPUs`);
out.push('');
out.push(line(table[0]));
out.push(w.map((n) => '-'.repeat(n)).join('  '));
for (const r of table.slice(1)) out.push(line(r));
out.push('');
out.push('img/s = batch * 1000 / mean ms per batch over the timed runs (after warm-up runs);');
out.push('qdb/ort > 1 means qdb is faster. Intra-op threads as listed, one inter-op thread.');
out.push(`Peak RSS of the whole process; onnxruntime's includes node itself (node with`);
out.push(`onnxruntime loaded and no session: ${floor} MiB).`);
const core = (rows.find((r) => r.blas_core) || {}).blas_core;
if (core) {
    out.push(`OpenBLAS kernels used by qdb: ${core}` +
        (process.env.OPENBLAS_CORETYPE ? ` (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE})`
            : ' (OpenBLAS\'s own detection, corrected by qdb where it falls back to generic kernels)') + '.');
    if (/^(prescott|core2|penryn|dunnington|nehalem|atom|nano|katmai|coppermine|northwood|banias)$/i.test(core))
        out.push('  Generic SSE kernels: OpenBLAS does not know this CPU. If it has AVX2 or AVX-512,' +
            '\n  OPENBLAS_CORETYPE=Haswell or SkylakeX makes qdb\'s GEMM several times faster.');
}
process.stdout.write(out.join('\n') + '\n');
EOF
cat "$TXT"
if [ "$failed" != 0 ]; then
    echo "bench: some runs failed; errors in $ERRLOG" >&2
    exit 1
fi
