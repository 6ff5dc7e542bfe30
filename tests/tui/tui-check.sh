#!/bin/bash
# tui-check.sh - end-to-end test of the TUI: drives the real binary in a
# detached tmux session at a fixed size, sends keys, captures the pane and
# checks what is on screen: the layer table after start-up, a rule typed at
# the command line changing the accuracy line, the histogram pane following
# the selection, resize to 80x24 and back, cancelling a job with Esc, and
# quit restoring the terminal. Run by `make check` (needs tmux).
set -u
cd "$(dirname "$0")/../.."
QDB=${QDB:-./qdb}
# Waits are multiplied by this (sanitizer builds run 10-20x slower).
SCALE=${TUI_WAIT_SCALE:-1}
MODEL=models/demo_mbv2.onnx
S=qdb-tui-check-$$
export XDG_STATE_HOME=$(mktemp -d)
fails=0
# A tmux server of our own: sessions get this script's environment (a
# server already running would give them its own, XDG_STATE_HOME included).
tmux() { command tmux -L "$S" "$@"; }
trap 'tmux kill-server 2>/dev/null; rm -rf "$XDG_STATE_HOME"' EXIT

screen() { tmux capture-pane -p -t "$S"; }
# wait_for TEXT [SECONDS]: until TEXT is on screen
wait_for() {
    local i
    for ((i = 0; i < ${2:-60} * 10 * SCALE; i++)); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
# at_prompt TEXT: type TEXT at the ':' prompt and press Enter
at_prompt() {
    tmux send-keys -t "$S" ':'
    sleep 0.3
    tmux send-keys -t "$S" "$1" Enter
}
check() { # check NAME TEXT [SECONDS]
    if wait_for "$2" "${3:-30}"; then
        echo "tui-check: ok   $1"
    else
        echo "tui-check: FAIL $1: '$2' not on screen; the screen was:"
        screen | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

tmux new-session -d -s "$S" -x 120 -y 40 "$QDB $MODEL; echo QDB-EXITED-\$?; sleep 60"
check "start-up shows the layer table" "Layers 35" 60
check "start-up finishes with accuracies" "float 91.63%" 60
check "the first layer is listed" "Conv+Swish" 5
# the histogram pane follows the selection: move to layer 2
tmux send-keys -t "$S" j j
check "histogram of the selected layer" "─ /blocks/blocks.0/block/block.0/Conv " 5
check "every method's threshold is labelled" "NOCLIPPING" 5
# p plots the selected layer (prompt pre-filled with its name)
PLOTS=$(mktemp -d)
tmux send-keys -t "$S" p
sleep 0.3
tmux send-keys -t "$S" "svg $PLOTS/figs" Enter
check "p plots the selected layer" "plot: 3 figures (svg) in $PLOTS/figs" 30
[ -s "$PLOTS/figs/act_002__blocks_blocks.0_block_block.0_Conv.svg" ] && echo "tui-check: ok   the figure file exists" ||
    { echo "tui-check: FAIL no figure file in $PLOTS/figs"; fails=$((fails + 1)); }
rm -rf "$PLOTS"
# a rule typed at the command line changes the accuracy line
at_prompt 'rule type=Swish : act_bits=16'
check "the rule is in the rules pane" "type=Swish : act_bits=16" 30
check "the accuracy line changed" "quant 91.58% (-0.05)" 60
# Tab completes the command and an op type
tmux send-keys -t "$S" ':'
sleep 0.3
tmux send-keys -t "$S" 'mat' Tab
sleep 0.2
tmux send-keys -t "$S" 'type=HardSw' Tab
sleep 0.2
tmux send-keys -t "$S" Enter
check "Tab completes command and op type" "6 of 27 layers match" 10
check "the match output opens in the pager" "(q closes)" 5
tmux send-keys -t "$S" q
# resize to 80x24 and back
tmux resize-window -t "$S" -x 80 -y 24
sleep 0.5
check "80x24 still shows the table" "Layers 35" 5
check "and the whole key bar" "? help  q quit" 5
tmux resize-window -t "$S" -x 120 -y 40
sleep 0.5
check "back at 120x40" "History" 5
# a long output scrolls in the pager; q closes it, the TUI stays
at_prompt 'layers'
check "a long output opens in the pager" "layers: lines 1-35 of 36" 10
tmux send-keys -t "$S" G
check "the pager scrolls" "lines 2-36 of 36" 5
tmux send-keys -t "$S" q
check "q closes the pager, the TUI stays" "Layers 35" 5
# a bad command gives a message, the TUI stays
at_prompt 'rule type=Swish : act_bits=99'
check "a bad rule is reported" "act_bits must be a bit width from 2 to 16" 10
# cancel a re-quantization with Esc: the accuracy stays
at_prompt 'set activation_n_bits=4'
sleep 0.3
tmux send-keys -t "$S" Escape
check "cancel leaves the previous results" "cancelled: the previous results are unchanged" 30
check "the accuracy is the previous one" "quant 91.58% (-0.05)" 5
# bisect from the command line, its result in the history pane, and its
# culprits turned into a rule by one command
# first make one layer fragile: 2-bit activations on the first block's Add
at_prompt 'bits /blocks/blocks.0/Add 2'
check "a one-layer edit through bits" "2 [x]  -7.04  1 lay.  name=/blocks/blocks.0/Add" 60
at_prompt 'bisect'
check "bisect reports its culprits" "'keep' adds the rule" 90
check "its report opens in the pager" "culprit    5  /blocks/blocks.0/Add" 5
tmux send-keys -t "$S" q
check "bisect names the fragile layer" "culprits 5 /blocks/blocks.0/Add" 5
at_prompt 'keep'
check "keep adds the culprits' rule" "3 [x]" 60
# save the session with s (sorted by SQNR first, to see the UI state come back)
WORK=$(mktemp -d)
tmux send-keys -t "$S" o
at_prompt "save $WORK/inv.json"
check "save writes the session" "saved $WORK/inv.json (3 rules" 10
# help screen from the key table
tmux send-keys -t "$S" '?'
check "help lists keys and commands" "Commands (type ':' first)" 5
tmux send-keys -t "$S" x
# quit restores the terminal
tmux send-keys -t "$S" q
check "quit exits with status 0" "QDB-EXITED-0" 10
if screen | grep -q "Layers 35"; then
    echo "tui-check: FAIL the screen was not restored after quit"
    fails=$((fails + 1))
else
    echo "tui-check: ok   the terminal is restored after quit"
fi
if ls "$XDG_STATE_HOME"/qdb/recovery/demo_mbv2.onnx.* >/dev/null 2>&1; then
    echo "tui-check: FAIL a clean quit left recovery files: $(ls "$XDG_STATE_HOME"/qdb/recovery)"
    fails=$((fails + 1))
else
    echo "tui-check: ok   a clean quit removes the recovery file and its statistics"
fi
# reopen the saved session: same rules, accuracy and sort, without any flag
tmux kill-session -t "$S"
tmux new-session -d -s "$S" -x 120 -y 40 "$QDB --session $WORK/inv.json; echo QDB-EXITED-\$?; sleep 60"
check "the session resumes with its rules" "rules 3" 60
check "and its accuracy" "quant 91.55% (-0.08)" 60
check "and its sort" "sort: SQNR" 5
check "and its history" "-0.08 vs float  keep" 5
# a change after resuming: quit asks first
at_prompt 'disable 3'
check "a change after resuming" "3 [ ] " 60
tmux send-keys -t "$S" q
check "quit with unsaved changes asks" "unsaved changes since the last save" 10
# kill -9 in the middle of the investigation: the next start offers recovery
pkill -KILL -f -- "^$QDB --session $WORK/inv.json" ||
    echo "tui-check: (no process matched ^$QDB --session $WORK/inv.json)"
sleep 0.5
tmux kill-session -t "$S"
tmux new-session -d -s "$S" -x 200 -y 40 "$QDB $MODEL; echo QDB-EXITED-\$?; sleep 60"
check "after a crash the next start offers recovery" "did not end cleanly: ':load $XDG_STATE_HOME/qdb/recovery/demo_mbv2.onnx." 60
REC=$(ls "$XDG_STATE_HOME"/qdb/recovery/demo_mbv2.onnx.*.json | head -1)
at_prompt "load $REC"
check "the recovered session has the change" "rules 3" 60
check "and the rule disabled" "3 [ ] " 5
tmux send-keys -t "$S" q q
check "quit after recovering" "QDB-EXITED-0" 10
rm -rf "$WORK"
[ "$fails" = 0 ] && echo "tui-check: all passed" || echo "tui-check: $fails failed"
[ "$fails" = 0 ]
