/* report.c - the HTML and Markdown report: the model's summary,
 * configuration, rules, figures and per-layer table, written side by side
 * into two pages (report.html, report.md) that link to the figures in the
 * same directory. Model text (layer and rule names) is escaped for each
 * format. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "layer_attr.h"
#include "outdir.h"
#include "rule.h"

#ifdef QDB_VERSION
#define QDB_VERSION_TEXT QDB_VERSION
#else
#define QDB_VERSION_TEXT "(unknown version)"
#endif

typedef struct pages {
    FILE *h, *m;      /* HTML, Markdown */
    const char *dir;
    qdb_gnuplot *gp;
    const qdb_plot_opts *o;
    qdb_report_result *res;
    qdb_err *e;
} pages;

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            fputc(' ', f);
            continue;
        }
        if (strchr("\\`*_[]<>|~&", *s))
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* The same text into both pages. */
static void both(pages *p, const char *s)
{
    html_text(p->h, s);
    md_text(p->m, s);
}

static void fmt_pct(char *b, size_t n, double v)
{
    if (isfinite(v))
        snprintf(b, n, "%.2f %%", 100.0 * v);
    else
        snprintf(b, n, "-");
}

static void fmt_db(char *b, size_t n, int valid, double v)
{
    if (!valid || isnan(v))
        snprintf(b, n, "-");
    else if (isinf(v) && v > 0)
        snprintf(b, n, "exact");
    else
        snprintf(b, n, "%.1f", v);
}

/* A table row of plain cells (already formatted text). */
static void row(pages *p, const char *const *cells, int n, int header)
{
    fputs("<tr>", p->h);
    fputc('|', p->m);
    for (int i = 0; i < n; i++) {
        fputs(header ? "<th>" : "<td>", p->h);
        html_text(p->h, cells[i]);
        fputs(header ? "</th>" : "</td>", p->h);
        fputc(' ', p->m);
        md_text(p->m, cells[i]);
        fputs(" |", p->m);
    }
    fputs("</tr>\n", p->h);
    fputc('\n', p->m);
    if (header) {
        fputc('|', p->m);
        for (int i = 0; i < n; i++)
            fputs("---|", p->m);
        fputc('\n', p->m);
    }
}

static void heading(pages *p, int level, const char *s)
{
    fprintf(p->h, "<h%d>", level);
    html_text(p->h, s);
    fprintf(p->h, "</h%d>\n", level);
    fprintf(p->m, "\n%.*s ", level, "######");
    md_text(p->m, s);
    fputs("\n\n", p->m);
}

/* A figure: rendered, or its failure noted. */
static void figure(pages *p, qdb_status st, const char *file, const char *alt, const qdb_err *fe)
{
    if (st == QDB_OK && file[0]) {
        fputs("<figure><img src=\"", p->h);
        html_text(p->h, file);
        fputs("\" alt=\"", p->h);
        html_text(p->h, alt);
        fputs("\"></figure>\n", p->h);
        fputs("![", p->m);
        md_text(p->m, alt);
        fprintf(p->m, "](%s)\n\n", file);
        p->res->figures++;
        return;
    }
    const char *why = st == QDB_OK ? "not rendered (gnuplot is missing: install the Debian package "
                                     "gnuplot-nox); its data and script are in this directory"
                                   : fe->msg;
    if (st != QDB_OK) {
        p->res->failed++;
        if (!p->res->first_error[0])
            snprintf(p->res->first_error, sizeof p->res->first_error, "%s", fe->msg);
    }
    fputs("<p class=\"err\">figure ", p->h);
    html_text(p->h, alt);
    fputs(": ", p->h);
    html_text(p->h, why);
    fputs("</p>\n", p->h);
    fputs("> figure ", p->m);
    md_text(p->m, alt);
    fputs(": ", p->m);
    md_text(p->m, why);
    fputs("\n\n", p->m);
}

static void rules_of(const qdb_qlayer *l, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t at = 0;
    int last = -1;
    for (;;) {
        int next = -1;
        for (int a = 0; a < QDB_LA_COUNT; a++)
            if (l->prov[a] > last && (next < 0 || l->prov[a] < next))
                next = l->prov[a];
        if (next < 0 || at + 12 >= n)
            break;
        at += (size_t)snprintf(buf + at, n - at, "%s%d", at ? "," : "", next + 1);
        last = next;
    }
    if (!at)
        snprintf(buf, n, "-");
}

/* Layer order for the report: lowest own SQNR first; unmeasured and exact
 * layers after, in network order. */
static int *worst_first(const qdb_qmodel *q)
{
    int *ord = malloc((size_t)(q->n_layers ? q->n_layers : 1) * sizeof *ord);
    if (!ord)
        return NULL;
    for (int i = 0; i < q->n_layers; i++)
        ord[i] = i;
    for (int i = 1; i < q->n_layers; i++) {
        int v = ord[i], j = i;
        const qdb_qlayer *lv = &q->layers[v];
        double kv = lv->m.valid && isfinite(lv->m.sqnr_own_db) ? lv->m.sqnr_own_db : INFINITY;
        while (j > 0) {
            const qdb_qlayer *lu = &q->layers[ord[j - 1]];
            double ku = lu->m.valid && isfinite(lu->m.sqnr_own_db) ? lu->m.sqnr_own_db : INFINITY;
            if (!(kv < ku))
                break;
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = v;
    }
    return ord;
}

static const char css[] =
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    "th{background:#f0f0f0}td.n{text-align:right}"
    "figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}"
    ".err{color:#a00}code{background:#f4f4f4}";

/* Sets the page title to "qdb report: images N/M loaded" once every image
 * has finished (headless checks read it from the DOM). */
static const char img_check_js[] =
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;"
    "document.title='qdb report: images '+ok+'/'+im.length+' loaded';"
    "var s=document.getElementById('imgcheck');if(s)s.textContent=ok+'/'+im.length;});";

static void summary(pages *p, const qdb_report_input *in)
{
    const qdb_qmodel *q = in->q;
    char b[64], c[256];
    heading(p, 2, "Summary");
    fputs("<table>\n", p->h);
    struct { const char *k; char v[300]; } kv[8];
    int n = 0;
    snprintf(kv[n].v, sizeof kv[n].v, "%s", in->model);
    kv[n++].k = "model";
    snprintf(kv[n].v, sizeof kv[n].v, "%s (%lld samples, seed %llu)",
             in->calib_spec ? in->calib_spec : "-", (long long)q->calib_samples, in->seed);
    kv[n++].k = "calibration";
    if (in->eval_spec) {
        snprintf(kv[n].v, sizeof kv[n].v, "%s (%lld samples)", in->eval_spec,
                 (long long)in->eval_samples);
        kv[n++].k = "evaluation";
        fmt_pct(b, sizeof b, in->float_acc);
        snprintf(kv[n].v, sizeof kv[n].v, "%s", b);
        kv[n++].k = in->labelled ? "float top-1" : "float";
        fmt_pct(b, sizeof b, in->quant_acc);
        if (isfinite(in->quant_acc) && isfinite(in->float_acc))
            snprintf(c, sizeof c, "%s (delta %+.2f points)", b, 100.0 * (in->quant_acc - in->float_acc));
        else
            snprintf(c, sizeof c, "%s", b);
        snprintf(kv[n].v, sizeof kv[n].v, "%s", c);
        kv[n++].k = in->labelled ? "quantized top-1" : "quantized (agreement)";
        fmt_pct(b, sizeof b, in->agreement);
        snprintf(kv[n].v, sizeof kv[n].v, "%s of predictions equal the float model's", b);
        kv[n++].k = "agreement";
    } else {
        snprintf(kv[n].v, sizeof kv[n].v, "not evaluated");
        kv[n++].k = "evaluation";
    }
    snprintf(kv[n].v, sizeof kv[n].v,
             "BatchNorm folded %d, ReLU bound to 2^k %d, channels equalized %d, shift-negative %d, "
             "input scale %.4g",
             q->n_bn_folded, q->n_relu_rebound, q->n_equalized, q->n_snc, q->input_scale);
    kv[n++].k = "passes";
    fputs("| | |\n|---|---|\n", p->m);
    for (int i = 0; i < n; i++) {
        const char *cells[2] = {kv[i].k, kv[i].v};
        row(p, cells, 2, 0);
    }
    fputs("</table>\n", p->h);
}

static void configuration(pages *p, const qdb_quant_config *cfg)
{
    heading(p, 2, "Configuration");
    fputs("<table>\n", p->h);
    const char *hd[] = {"parameter", "value"};
    row(p, hd, 2, 1);
    for (int i = 0; i < qdb_config_key_count(); i++) {
        const qdb_config_key *k = qdb_config_key_at(i);
        char v[64];
        qdb_quant_config_get(cfg, k, v, sizeof v);
        const char *cells[2] = {k->name, v};
        row(p, cells, 2, 0);
    }
    fputs("</table>\n", p->h);
}

static void rules(pages *p, const qdb_report_input *in)
{
    const qdb_ruleset *rs = in->rs;
    if (!rs || !rs->n)
        return;
    const qdb_rule_eval *re = in->re;
    heading(p, 2, "Rules");
    if (re && isfinite(re->baseline)) {
        char b[64], t[200];
        fmt_pct(b, sizeof b, re->baseline);
        snprintf(t, sizeof t, "Quantized with no rules (baseline): %s; with every rule: ", b);
        fputs("<p>", p->h);
        both(p, t);
        fmt_pct(b, sizeof b, re->current);
        both(p, b);
        snprintf(t, sizeof t, " (%+.2f points against the baseline).", 100.0 * (re->current - re->baseline));
        both(p, t);
        fputs("</p>\n", p->h);
        fputs("\n\n", p->m);
    }
    fputs("<table>\n", p->h);
    const char *hd[] = {"#", "rule", "layers", "without it", "contribution (points)"};
    row(p, hd, 5, 1);
    for (int i = 0; i < rs->n; i++) {
        char *t = qdb_rule_format(rs->rules[i]);
        char num[16], lay[16], w[32] = "-", c[32] = "-";
        snprintf(num, sizeof num, "%d", i + 1);
        snprintf(lay, sizeof lay, "%d", re && re->matches ? re->matches[i] : 0);
        if (re && re->without && isfinite(re->without[i])) {
            fmt_pct(w, sizeof w, re->without[i]);
            snprintf(c, sizeof c, "%+.2f", 100.0 * (re->current - re->without[i]));
        }
        const char *cells[5] = {num, t ? t : "?", lay, w, c};
        row(p, cells, 5, 0);
        free(t);
    }
    fputs("</table>\n", p->h);
}

static void layer_table(pages *p, const qdb_qmodel *q, const int *ord)
{
    heading(p, 2, "Layers (worst own SQNR first)");
    fputs("<table>\n", p->h);
    const char *hd[] = {"rank", "#", "layer", "op", "act bits", "threshold", "error method",
                        "w bits", "SQNR own (dB)", "SQNR acc. (dB)", "clipped %", "rules"};
    row(p, hd, 12, 1);
    for (int r = 0; r < q->n_layers; r++) {
        const qdb_qlayer *l = &q->layers[ord[r]];
        char rk[16], idx[16], ab[16], thr[64], wb[16], so[16], sa[16], clip[24], rl[64];
        snprintf(rk, sizeof rk, "%d", r + 1);
        snprintf(idx, sizeof idx, "%d", ord[r]);
        if (l->act_active) {
            snprintf(ab, sizeof ab, "%d", l->act_qp.n_bits);
            if (l->act_qp.method == QDB_QM_UNIFORM)
                snprintf(thr, sizeof thr, "[%.4g, %.4g]", l->act_qp.min, l->act_qp.max);
            else
                snprintf(thr, sizeof thr, "%s%.4g", l->act_signed ? "+-" : "0..",
                         l->act_qp.threshold);
        } else {
            snprintf(ab, sizeof ab, "-");
            snprintf(thr, sizeof thr, "float");
        }
        if (l->w_value >= 0 && l->wcfg.enabled)
            snprintf(wb, sizeof wb, "%d", l->wcfg.n_bits);
        else
            snprintf(wb, sizeof wb, "-");
        fmt_db(so, sizeof so, l->m.valid, l->m.sqnr_own_db);
        fmt_db(sa, sizeof sa, l->m.valid, l->m.sqnr_db);
        if (l->m.valid && l->act_active)
            snprintf(clip, sizeof clip, "%.3f", 100.0 * l->m.clipped_fraction);
        else
            snprintf(clip, sizeof clip, "-");
        rules_of(l, rl, sizeof rl);
        const char *cells[12] = {rk, idx, l->name, l->op, ab, thr,
                                 l->act_active ? qdb_error_method_name(l->act.error_method) : "-",
                                 wb, so, sa, clip, rl};
        row(p, cells, 12, 0);
    }
    fputs("</table>\n", p->h);
}

qdb_status qdb_report_write(qdb_gnuplot *gp, const char *dir, const qdb_report_input *in,
                            const qdb_plot_opts *o, qdb_report_result *res, qdb_err *e)
{
    memset(res, 0, sizeof *res);
    if (!in || !in->q)
        return qdb_err_set(e, QDB_ERR_INVALID, "no model to report on");
    const qdb_qmodel *q = in->q;
    qdb_status st = qdb_plot_outdir(dir, e);
    if (st != QDB_OK)
        return st;
    char hp[4096], mp[4096];
    if ((st = qdb_plot_path(hp, sizeof hp, dir, "report.html", e)) != QDB_OK ||
        (st = qdb_plot_path(mp, sizeof mp, dir, "report.md", e)) != QDB_OK)
        return st;
    int *ord = worst_first(q);
    if (!ord)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    qdb_atomic_file ah, am;
    if ((st = qdb_atomic_open(&ah, hp, e)) != QDB_OK) {
        free(ord);
        return st;
    }
    if ((st = qdb_atomic_open(&am, mp, e)) != QDB_OK) {
        qdb_atomic_abort(&ah);
        free(ord);
        return st;
    }
    pages p = {.h = ah.f, .m = am.f, .dir = dir, .gp = gp, .o = o, .res = res, .e = e};
    char title[512];
    snprintf(title, sizeof title, "qdb report: %s", in->model);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", p.h);
    html_text(p.h, title);
    fprintf(p.h, "</title>\n<style>%s</style>\n<script>%s</script>\n</head><body>\n", css,
            img_check_js);
    fputs("<h1>", p.h);
    html_text(p.h, title);
    fputs("</h1>\n<p>Written by qdb " QDB_VERSION_TEXT ". Each figure's data (.dat) and gnuplot "
          "script (.gp) are beside it: <code>gnuplot NAME.gp</code> in this directory redraws it. "
          "Images loaded: <span id=\"imgcheck\">?</span>.</p>\n",
          p.h);
    fputs("# ", p.m);
    md_text(p.m, title);
    fputs("\n\nWritten by qdb " QDB_VERSION_TEXT ". Each figure's data (.dat) and gnuplot script "
          "(.gp) are beside it: `gnuplot NAME.gp` in this directory redraws it.\n",
          p.m);
    summary(&p, in);
    configuration(&p, &q->cfg);
    rules(&p, in);

    char file[256];
    qdb_err fe = {0};
    if (in->hist && in->hist->n > 0) {
        heading(&p, 2, "Accuracy over the re-quantization history");
        qdb_err_clear(&fe);
        st = qdb_fig_history(gp, dir, in->hist, o, file, sizeof file, &fe);
        if (st == QDB_ERR_NOMEM)
            goto fail;
        figure(&p, st, file, "accuracy history", &fe);
    }
    heading(&p, 2, "Per-layer SQNR");
    qdb_err_clear(&fe);
    st = qdb_fig_sqnr(gp, dir, q, o, file, sizeof file, &fe);
    if (st == QDB_ERR_NOMEM)
        goto fail;
    figure(&p, st, file, "per-layer SQNR", &fe);
    layer_table(&p, q, ord);

    heading(&p, 2, "Activation histograms (worst own SQNR first)");
    for (int r = 0; r < q->n_layers; r++) {
        const qdb_qlayer *l = &q->layers[ord[r]];
        if (!l->hist || !(l->hist->total > 0))
            continue;
        char h3[512], so[16];
        fmt_db(so, sizeof so, l->m.valid, l->m.sqnr_own_db);
        snprintf(h3, sizeof h3, "%d. %s (%s), own SQNR %s dB", r + 1, l->name, l->op, so);
        heading(&p, 3, h3);
        qdb_err_clear(&fe);
        st = qdb_fig_act_hist(gp, dir, q, ord[r], o, file, sizeof file, &fe);
        if (st == QDB_ERR_NOMEM)
            goto fail;
        figure(&p, st, file, l->name, &fe);
    }
    fputs("</body></html>\n", p.h);
    free(ord);
    st = qdb_atomic_commit(&ah, e);
    if (st != QDB_OK) {
        qdb_atomic_abort(&am);
        return st;
    }
    return qdb_atomic_commit(&am, e);
fail:
    free(ord);
    qdb_atomic_abort(&ah);
    qdb_atomic_abort(&am);
    if (e)
        *e = fe;
    return fe.code ? fe.code : QDB_ERR_NOMEM;
}
