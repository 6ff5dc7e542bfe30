/* cmd_plot.c - `qdb plot MODEL [data flags] --layer NAME|--all --out DIR`:
 * the figures of plotting/figures.h on the command line, all rendered by
 * one gnuplot process: each layer's activation histogram with its
 * thresholds, its weight histogram and per-channel thresholds, and with
 * --all the per-layer SQNR chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "plot_flags.h"
#include "figures.h"
#include "gnuplot.h"
#include "outdir.h"
#include "progress.h"
#include "qsetup.h"

#define PLOT_USAGE                                                                            \
    "usage: qdb plot MODEL.onnx [data flags] (--layer NAME ... | --all) --out DIR\n"           \
    "                [--format png|svg|pdf] [--size WxH] [--log|--linear] [--grid]\n"         \
    "                [--title TEXT] [--no-weights] [--measure-n N] [--rule RULE] [--rules FILE]\n"

const char cmd_plot_options[] =
    "  --layer NAME      a layer to plot (repeatable; names as `qdb info` and the table show)\n"
    "  --all             every layer, plus the per-layer SQNR chart (sqnr.*)\n"
    "  --out DIR         where figures go (created if only its last component is missing)\n"
    "  --format F        png (pngcairo, default), svg or pdf (pdfcairo)\n"
    "  --size WxH        image size in pixels (PDF: 100 pixels per inch; default 900x540)\n"
    "  --log, --linear   histogram counts on a logarithmic (default) or linear axis\n"
    "  --grid            overlay the activation quantization grid of the current bits\n"
    "  --title TEXT      figure title (layer figures: \"TEXT: layer\")\n"
    "  --no-weights      activation histograms only\n"
    "  --measure-n N     representative samples for the SQNR chart (default 256; 0 = all)\n"
    "  Beside each figure: its data (.dat) and gnuplot script (.gp); `gnuplot NAME.gp`\n"
    "  in DIR redraws it. Needs gnuplot (Debian: gnuplot-nox).\n" QSETUP_HELP;

/* One figure: print what was written, or the error. 0 or 1 (failed). */
static int report_fig(qdb_status st, const char *dir, const char *file, const qdb_err *e)
{
    if (st != QDB_OK) {
        cli_error("%s", e->msg);
        return 1;
    }
    printf("  %s/%s\n", dir, file);
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    qdb_plot_opts po;
    qdb_plot_opts_init(&po);
    const char *out = NULL;
    const char **names = calloc((size_t)argc, sizeof *names);
    int n_names = 0, all = 0, weights = 1, rc = 2;
    long measure_n = 256;
    qdb_gnuplot *gp = NULL;
    qdb_err e = {0};
    if (!names) {
        cli_error("out of memory");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        int r = qsetup_parse(&s, argc, argv, &i);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        if ((r = plot_flags_parse("plot", 1, argc, argv, &i, &po)) < 0)
            goto out;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--layer") && i + 1 < argc) {
            names[n_names++] = argv[++i];
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--no-weights")) {
            weights = 0;
        } else if (!strcmp(a, "--measure-n") && i + 1 < argc) {
            if (qsetup_parse_long(a, argv[++i], 0, 1L << 30, &measure_n))
                goto out;
        } else {
            cli_error("plot: unexpected argument '%s'\n%s", a, PLOT_USAGE);
            goto out;
        }
    }
    if (!s.model || !out || (!all && !n_names)) {
        cli_error("%s%s", PLOT_USAGE,
                  s.model && !out ? "  (--out DIR is required)\n"
                  : s.model       ? "  (--layer NAME or --all is required)\n"
                                  : "");
        goto out;
    }
    rc = 1;
    /* before the long work: the directory, and gnuplot itself */
    if (qdb_plot_outdir(out, &e) != QDB_OK) {
        cli_error("plot: %s", e.msg);
        goto out;
    }
    if (!(gp = qdb_gnuplot_open(&e))) {
        cli_error("plot: %s", e.msg);
        goto out;
    }
    if (qsetup_open(&s, 0, 0))
        goto out;
    qdb_qmodel *q = s.q;
    int *sel = calloc((size_t)(q->n_layers ? q->n_layers : 1), sizeof *sel);
    if (!sel) {
        cli_error("out of memory");
        goto out;
    }
    for (int k = 0; k < n_names; k++) {
        int L = qdb_qmodel_find_layer(q, names[k]);
        if (L < 0) {
            cli_error("plot: %s has no layer '%s' (`qdb quantize` or `qdb info` lists them)",
                      s.model, names[k]);
            free(sel);
            goto out;
        }
        sel[L] = 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed = 0, written = 0;
    char file[256];
    if (all) {
        cli_progress_fn pf = cli_progress_if_tty();
        qdb_run_opts ro = {.batch = (int)s.batch, .progress = pf, .user = "measuring"};
        if (qdb_dataset_rewind(s.dc, &e) != QDB_OK ||
            qdb_qmodel_measure(q, s.dc, measure_n, &ro, &e) != QDB_OK) {
            cli_error("%s: %s", s.model, e.msg);
            free(sel);
            goto out;
        }
        qdb_err_clear(&e);
        qdb_status st = qdb_fig_sqnr(gp, out, q, &po, file, sizeof file, &e);
        failed += report_fig(st, out, file, &e);
        written += st == QDB_OK;
    }
    printf("figures of %s in %s:\n", s.model, out);
    for (int L = 0; L < q->n_layers; L++) {
        if (!all && !sel[L])
            continue;
        const qdb_qlayer *l = &q->layers[L];
        qdb_status st;
        if (l->hist && l->hist->total > 0) {
            qdb_err_clear(&e);
            st = qdb_fig_act_hist(gp, out, q, L, &po, file, sizeof file, &e);
            failed += report_fig(st, out, file, &e);
            written += st == QDB_OK;
        } else if (!all) {
            cli_error("plot: layer '%s' has no activation statistics", l->name);
            failed++;
        }
        if (weights && l->w_value >= 0 && l->wcfg.enabled && l->n_w_qp > 0) {
            qdb_err_clear(&e);
            st = qdb_fig_weight_hist(gp, out, q, L, &po, file, sizeof file, &e);
            failed += report_fig(st, out, file, &e);
            written += st == QDB_OK;
            qdb_err_clear(&e);
            st = qdb_fig_weight_channels(gp, out, q, L, &po, file, sizeof file, &e);
            failed += report_fig(st, out, file, &e);
            written += st == QDB_OK;
        }
    }
    free(sel);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("%d figure%s (%s) in %.2f s, %d gnuplot process%s%s\n", written,
           written == 1 ? "" : "s", qdb_plot_format_ext(po.format), secs,
           qdb_gnuplot_processes(gp), qdb_gnuplot_processes(gp) == 1 ? "" : "es",
           failed ? "" : "; beside each: NAME.dat and NAME.gp (gnuplot NAME.gp redraws it)");
    if (failed)
        cli_error("plot: %d figure%s failed", failed, failed == 1 ? "" : "s");
    rc = failed ? 1 : 0;
out:
    qdb_gnuplot_close(gp);
    free(names);
    qsetup_close(&s);
    return rc;
}
