/* cmd_report.c - `qdb report MODEL [data flags] [--rules ...] --out DIR`:
 * quantize, evaluate (float, quantized, each rule's worth), measure the
 * per-layer error figures, and write plotting/report.h's HTML and Markdown
 * pages with their figures into DIR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "plot_flags.h"
#include "eval.h"
#include "figures.h"
#include "gnuplot.h"
#include "history.h"
#include "outdir.h"
#include "progress.h"
#include "qsetup.h"
#include "report.h"
#include "rule_eval.h"

#define REPORT_USAGE                                                                         \
    "usage: qdb report MODEL.onnx [data flags] [--rule RULE ...] [--rules FILE] --out DIR\n"  \
    "                  [--format svg|png] [--size WxH] [--linear] [--measure-n N] [--no-eval]\n"

const char cmd_report_options[] =
    "  --out DIR         where report.html, report.md and the figures go (created if only\n"
    "                    its last component is missing)\n"
    "  --format F        figure format: svg (default) or png\n"
    "  --size WxH        figure size in pixels (default 900x540)\n"
    "  --linear          linear histogram counts (default logarithmic)\n"
    "  --grid            overlay the quantization grid on the histograms\n"
    "  --measure-n N     representative samples for the per-layer error figures (default 256)\n"
    "  --no-eval         no accuracy runs (thresholds and error figures only)\n"
    "  The page needs no network: figures are files beside it. Needs gnuplot\n"
    "  (Debian: gnuplot-nox); without it the pages are written without images.\n" QSETUP_HELP;

int cmd_report(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    qdb_plot_opts po;
    qdb_plot_opts_init(&po);
    po.format = QDB_PLOT_SVG;
    const char *out = NULL;
    long measure_n = 256;
    int no_eval = 0, rc = 2;
    qdb_err e = {0};
    qdb_gnuplot *gp = NULL;
    qdb_eval_result fr = {0};
    qdb_rule_eval re = {0};
    qdb_history hist;
    qdb_history_init(&hist);
    for (int i = 1; i < argc; i++) {
        int r = qsetup_parse(&s, argc, argv, &i);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        if ((r = plot_flags_parse("report", 0, argc, argv, &i, &po)) < 0)
            goto out;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--measure-n") && i + 1 < argc) {
            if (qsetup_parse_long(a, argv[++i], 0, 1L << 30, &measure_n))
                goto out;
        } else if (!strcmp(a, "--no-eval")) {
            no_eval = 1;
        } else {
            cli_error("report: unexpected argument '%s'\n%s", a, REPORT_USAGE);
            goto out;
        }
    }
    if (!s.model || !out) {
        cli_error("%s%s", REPORT_USAGE, s.model ? "  (--out DIR is required)\n" : "");
        goto out;
    }
    rc = 1;
    if (qdb_plot_outdir(out, &e) != QDB_OK) {
        cli_error("report: %s", e.msg);
        goto out;
    }
    int no_gnuplot = 0;
    if (!(gp = qdb_gnuplot_open(&e))) {
        /* the pages are still worth having: tables, data and scripts */
        fprintf(stderr, "qdb: warning: report: %s; writing the pages without images\n", e.msg);
        no_gnuplot = 1;
        qdb_err_clear(&e);
    }
    if (qsetup_open(&s, !no_eval, 0))
        goto out;
    qdb_qmodel *q = s.q;
    cli_progress_fn pf = cli_progress_if_tty();
    qdb_report_input in = {.model = s.model, .q = q, .calib_spec = s.cspec,
                           .seed = (unsigned long long)s.df.seed, .float_acc = NAN,
                           .quant_acc = NAN, .agreement = NAN, .rs = s.rs};
    if (!no_eval) {
        qdb_eval_opts eo = {.batch = (int)s.batch, .progress = pf, .user = "float"};
        if (qdb_eval_run(s.g, s.de, &eo, &fr, &e) != QDB_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
        eo.user = "quantized";
        if (qdb_rules_evaluate(q, s.rs, s.de, fr.pred, &eo, &re, &e) != QDB_OK) {
            cli_error("%s: %s", s.model, e.msg);
            goto out;
        }
        const qdb_eval_result *qr = &re.cur;
        int64_t agree = 0;
        for (int64_t i = 0; i < fr.n && i < qr->n; i++)
            agree += fr.pred[i] == qr->pred[i];
        in.eval_spec = s.espec;
        in.eval_samples = fr.n;
        in.labelled = fr.labelled;
        in.agreement = fr.n ? (double)agree / (double)fr.n : NAN;
        if (fr.labelled && fr.n && qr->n) {
            in.float_acc = (double)fr.top1 / (double)fr.n;
            in.quant_acc = (double)qr->top1 / (double)qr->n;
        } else {
            in.float_acc = 1.0; /* agreement with itself */
            in.quant_acc = in.agreement;
        }
        in.re = &re;
        if (s.rs->n && qdb_rule_eval_record(&re, s.rs, in.float_acc, &hist, &e) == QDB_OK)
            in.hist = &hist;
    } else {
        re.matches = calloc((size_t)(s.rs->n ? s.rs->n : 1), sizeof *re.matches);
        if (!re.matches || qdb_ruleset_apply(s.rs, q, re.matches, &e) != QDB_OK ||
            qdb_qmodel_quantize(q, &e) != QDB_OK) {
            cli_error("%s: %s", s.model, re.matches ? e.msg : "out of memory");
            goto out;
        }
        re.n_rules = s.rs->n;
        re.baseline = re.current = NAN;
        in.re = &re;
    }
    qdb_run_opts ro = {.batch = (int)s.batch, .progress = pf, .user = "measuring"};
    if (qdb_dataset_rewind(s.dc, &e) != QDB_OK ||
        qdb_qmodel_measure(q, s.dc, measure_n, &ro, &e) != QDB_OK) {
        cli_error("%s: %s", s.model, e.msg);
        goto out;
    }
    qdb_report_result res;
    if (qdb_report_write(gp, out, &in, &po, &res, &e) != QDB_OK) {
        cli_error("report: %s", e.msg);
        goto out;
    }
    printf("report of %s: %s/report.html and %s/report.md, %d figure%s (%s)\n", s.model, out, out,
           res.figures, res.figures == 1 ? "" : "s", qdb_plot_format_ext(po.format));
    if (res.failed)
        cli_error("report: %d figure%s failed; the first: %s", res.failed,
                  res.failed == 1 ? "" : "s", res.first_error);
    rc = res.failed || no_gnuplot ? 1 : 0;
out:
    qdb_gnuplot_close(gp);
    qdb_history_clear(&hist);
    qdb_rule_eval_free(&re);
    qdb_eval_result_free(&fr);
    qsetup_close(&s);
    return rc;
}
