/* main.c - qdb's command-line entry point: global options and dispatch to
 * the subcommands (cli/cmd_*.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data_flags.h"
#include "executor.h"
#include "kernels.h"
#include "op.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args;
    const char *help;
    const char *options; /* extra help lines, or NULL */
} command;

static const command commands[] = {
    {"tui", cmd_tui, "MODEL.onnx [data flags] [--rule RULE] [--rules FILE] [--set key=value]",
     "the interactive debugger (also: qdb MODEL.onnx; qdb --session FILE resumes a saved one);\n"
     "      ? inside lists keys and commands", NULL},
    {"run", cmd_run, "SCRIPT|- MODEL.onnx|--session FILE [--keep-going] [--echo] [data flags] ...",
     "batch mode: the TUI's commands from a file (one per line, '#' comments)",
     "  --keep-going  run every command even after a failure (exit 1 if any failed)\n"
     "  --echo        print each command before its output\n"
     "  (the TUI's ? screen and qdb run with a 'help' line list the commands)\n"},
    {"info", cmd_info, "MODEL.onnx",
     "list inputs, outputs and every layer with its op, output shape and parameters", NULL},
    {"infer", cmd_infer, "MODEL.onnx --input X.npy --output Y.npy [--threads N]",
     "float inference from and to NumPy .npy files (any batch size)", NULL},
    {"eval", cmd_eval, "MODEL.onnx [--eval SPEC] [--eval-n N] [--batch B] [--json FILE] ...",
     "top-1 / top-5 float accuracy on the evaluation set (defaults from MODEL.qdb.json)",
     "  --batch B     samples per run (default 64)\n"
     "  --threads T   compute threads\n"
     "  --json FILE   also write the results as JSON\n" DATA_FLAGS_HELP},
    {"quantize", cmd_quantize, "MODEL.onnx [data flags] [--set key=value ...] [--report FILE]",
     "post-training quantization (MCT semantics): float vs quantized accuracy, per-layer table",
     "  --set key=value   a quantization parameter (--help-config lists all, with defaults)\n"
     "  --rule RULE       a network-editor rule (repeatable), e.g. \"type=Sigmoid : act_bits=16\"\n"
     "  --rules FILE      rules from a file, one per line ('#' comments)\n"
     "  --report FILE     also write the results as JSON\n"
     "  --measure-n N     representative samples for the per-layer error figures (default 256)\n"
     "  --no-eval         skip the accuracy runs\n"
     "  --batch B, --threads T\n"
     "  (calibration: a seeded random subset of 1024 samples unless --calib-n is given)\n"
     DATA_FLAGS_HELP},
    {"match", cmd_match, "MODEL.onnx RULE|FILTER... [--rules FILE]",
     "dry run of network-editor rules: the layers each one selects ('all': every layer)", NULL},
    {"sensitivity", cmd_sensitivity, "MODEL.onnx [--subset N | --full] [--top K] [--json FILE] ...",
     "per-layer sensitivity: each layer alone quantized, and all but it, ranked",
     cmd_sensitivity_options},
    {"bisect", cmd_bisect, "MODEL.onnx [--tolerance P] [--precision float|16] [--mode ddmin|prefix] ...",
     "find the few layers that, raised, bring accuracy within P points of float",
     cmd_bisect_options},
    {"plot", cmd_plot,
     "MODEL.onnx [data flags] [--rule RULE ...] --layer NAME|--all --out DIR [--format png|svg|pdf] ...",
     "figures through gnuplot: activation histograms with thresholds, weights, SQNR",
     cmd_plot_options},
    {"report", cmd_report, "MODEL.onnx [data flags] [--rule RULE ...] [--rules FILE] --out DIR",
     "an HTML + Markdown report: accuracy, rules, per-layer table, SQNR chart, histograms",
     cmd_report_options},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qdb: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: qdb COMMAND [ARGS]\n\n"
               "qdb is an interactive debugger for neural-network quantization.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  qdb %s %s\n      %s\n", commands[i].name, commands[i].args, commands[i].help);
    fprintf(f, "\nOptions:\n  -h, --help     this help (qdb COMMAND --help for a command's)\n"
               "  -V, --version  print the version\n"
               "  --ops          list the supported ONNX operators\n");
}

int main(int argc, char **argv)
{
    qdb_kernels_fix_blas(argv);
    qdb_exec_tune_malloc();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("qdb %s\n", QDB_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--ops")) {
        const char *names[512];
        int n = qdb_op_list(names, 512);
        for (int i = 0; i < n && i < 512; i++)
            printf("%s\n", names[i]);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) {
            for (int a = 2; a < argc; a++)
                if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
                    printf("usage: qdb %s %s\n  %s\n%s", commands[i].name, commands[i].args,
                           commands[i].help, commands[i].options ? commands[i].options : "");
                    return 0;
                }
            return commands[i].run(argc - 1, argv + 1);
        }
    /* qdb MODEL.onnx [flags], qdb --session FILE: the TUI */
    size_t n = strlen(cmd);
    if ((n > 5 && !strcmp(cmd + n - 5, ".onnx")) || !strcmp(cmd, "--session"))
        return cmd_tui(argc, argv);
    cli_error("unknown command '%s' (try qdb --help)", cmd);
    return 2;
}
