#!/usr/bin/env bash
# run-tests.sh - runs each cmocka test program given on the command line,
# shows cmocka's own summaries, and fails if any program fails. RUNNER
# (e.g. "valgrind -q --error-exitcode=1") prefixes each program.
set -u
failed=0
for t in "$@"; do
    echo "== ${t##*/}"
    if ! ${RUNNER:-} "$t"; then
        failed=$((failed + 1))
        echo "FAILED: $t"
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "$failed test program(s) failed"
    exit 1
fi
echo "all $# test programs passed"
