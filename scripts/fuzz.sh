#!/usr/bin/env bash
# fuzz.sh - runs qdb's libFuzzer targets (built by `make fuzz`) for
# FUZZ_SECONDS each: fuzz_onnx (ONNX bytes), fuzz_ops (models built from the
# fuzzer's choices), fuzz_npy (.npy bytes). Seed corpora are made here at run
# time, never committed: the ONNX conformance models of libonnx-testdata and
# a few hand-written .npy files (fuzz_ops needs none). New inputs accumulate
# in $FUZZ_BUILD/corpus/<target>; crashes, leaks and timeouts land in
# $FUZZ_BUILD/crashes/. Extra libFuzzer options go in FUZZ_ARGS.
#
#   FUZZ_BUILD=build-fuzz FUZZ_SECONDS=60 FUZZ_TARGETS="onnx ops npy" scripts/fuzz.sh
set -eu
B=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-onnx ops npy}
DATA=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}
here=$(cd "$(dirname "$0")/.." && pwd)

for t in onnx ops npy; do mkdir -p "$B/corpus/$t" "$B/seeds/$t"; done
mkdir -p "$B/crashes"
if [ -d "$DATA" ]; then
    # One seed per conformance model, named after its case directory.
    find "$DATA" -name model.onnx | while read -r m; do
        rel=${m#"$DATA"/}
        cp -f "$m" "$B/seeds/onnx/$(dirname "$rel" | tr / _).onnx"
    done
fi
python3 "$here/tests/fuzz/npy_seeds.py" "$B/seeds/npy"

# One process, one core: others are building too. OpenBLAS gets one thread.
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in $TARGETS; do
    case $t in
        onnx) extra="-max_len=65536" ;;
        ops)  extra="-max_len=1024" ;; # bytes are choices, not a file: no seeds needed
        npy)  extra="-max_len=4096 -dict=$here/tests/fuzz/npy.dict" ;;
        *) echo "fuzz.sh: unknown target '$t'" >&2; exit 2 ;;
    esac
    echo "== fuzz_$t for ${SECONDS_EACH}s"
    # shellcheck disable=SC2086
    if ! "$B/fuzz/fuzz_$t" $extra -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
            -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
            -artifact_prefix="$B/crashes/$t-" ${FUZZ_ARGS:-} \
            "$B/corpus/$t" "$B/seeds/$t"; then
        echo "fuzz_$t found a problem: see $B/crashes/" >&2
        status=1
    fi
done
exit $status
