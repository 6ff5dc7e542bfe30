/* figures.c - the figure definitions: for each figure, what goes into its
 * data file and its gnuplot script, and how the two are written
 * (atomically) and rendered (through the run's gnuplot process, to a
 * temporary name renamed into place). Text from the model (layer names,
 * rule labels) is quoted by qdb_gnuplot_string and drawn noenhanced. */
#include "figures.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "atomic_file.h"
#include "outdir.h"

#define DEFAULT_W 900
#define DEFAULT_H 540
#define GRID_MAX_LINES 512
#define WEIGHT_BINS 128

static const char *const method_colors[QDB_EM_COUNT] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
};

static const char *const format_ext[QDB_PLOT_FORMAT_COUNT] = {"png", "svg", "pdf"};

const char *qdb_plot_format_ext(qdb_plot_format f)
{
    return f >= 0 && f < QDB_PLOT_FORMAT_COUNT ? format_ext[f] : "?";
}

int qdb_plot_format_parse(const char *s)
{
    if (!s)
        return -1;
    const char *dot = strrchr(s, '.');
    const char *x = dot ? dot + 1 : s;
    for (int f = 0; f < QDB_PLOT_FORMAT_COUNT; f++)
        if (!strcasecmp(x, format_ext[f]))
            return f;
    return -1;
}

void qdb_plot_opts_init(qdb_plot_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = QDB_PLOT_PNG;
    o->width = DEFAULT_W;
    o->height = DEFAULT_H;
    o->log_counts = 1;
}

/* ---- one figure: data file + script, then the image ---- */

typedef struct fig {
    const char *dir;
    const qdb_plot_opts *o;
    char base[128];
    qdb_atomic_file dat, scr;
    FILE *d, *s;    /* data, script */
} fig;

/* A comment line's worth of s: no line breaks. */
static void put_comment(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static qdb_status fig_open(fig *f, const char *dir, const char *base, const qdb_plot_opts *o,
                           const char *what, qdb_err *e)
{
    memset(f, 0, sizeof *f);
    f->dir = dir;
    f->o = o;
    snprintf(f->base, sizeof f->base, "%s", base);
    char path[4096], name[160];
    qdb_status st;
    snprintf(name, sizeof name, "%s.dat", f->base);
    if ((st = qdb_plot_path(path, sizeof path, dir, name, e)) != QDB_OK ||
        (st = qdb_atomic_open(&f->dat, path, e)) != QDB_OK)
        return st;
    snprintf(name, sizeof name, "%s.gp", f->base);
    if ((st = qdb_plot_path(path, sizeof path, dir, name, e)) != QDB_OK ||
        (st = qdb_atomic_open(&f->scr, path, e)) != QDB_OK) {
        qdb_atomic_abort(&f->dat);
        return st;
    }
    f->d = f->dat.f;
    f->s = f->scr.f;
    int w = o->width > 0 ? o->width : DEFAULT_W, h = o->height > 0 ? o->height : DEFAULT_H;
    const char *ext = qdb_plot_format_ext(o->format);
    fprintf(f->d, "# %s.dat - ", f->base);
    put_comment(f->d, what);
    fprintf(f->d, " (written by qdb; plotted by %s.gp)\n", f->base);
    fprintf(f->s, "# %s.gp - ", f->base);
    put_comment(f->s, what);
    fprintf(f->s, ", written by qdb.\n# Re-run in this directory: gnuplot %s.gp  (data: %s.dat)\n",
            f->base, f->base);
    switch (o->format) {
    case QDB_PLOT_SVG:
        fprintf(f->s, "set terminal svg size %d,%d noenhanced font \"sans,11\" background rgb \"white\"\n",
                w, h);
        break;
    case QDB_PLOT_PDF:
        fprintf(f->s, "set terminal pdfcairo size %.2fin,%.2fin noenhanced font \"sans,8\"\n",
                w / 100.0, h / 100.0);
        break;
    default:
        fprintf(f->s, "set terminal pngcairo size %d,%d noenhanced font \"sans,10\"\n", w, h);
        break;
    }
    fprintf(f->s, "if (!exists(\"qdb_output\")) qdb_output = \"%s.%s\"\n", f->base, ext);
    fputs("set output qdb_output\nset encoding utf8\nset datafile missing \"?\"\n"
          "set grid ytics lc rgb \"#dddddd\"\nset border 3\nset tics nomirror\n",
          f->s);
    return QDB_OK;
}

static void fig_abort(fig *f)
{
    qdb_atomic_abort(&f->dat);
    qdb_atomic_abort(&f->scr);
}

static void fig_title(fig *f, const char *def, const char *layer)
{
    fputs("set title ", f->s);
    if (f->o->title && layer) {
        size_t n = strlen(f->o->title) + strlen(layer) + 3;
        char *t = malloc(n);
        if (t) {
            snprintf(t, n, "%s: %s", f->o->title, layer);
            qdb_gnuplot_string(f->s, t);
            free(t);
        } else {
            qdb_gnuplot_string(f->s, def);
        }
    } else {
        qdb_gnuplot_string(f->s, f->o->title ? f->o->title : def);
    }
    fputc('\n', f->s);
}

static qdb_status fig_finish(fig *f, qdb_gnuplot *gp, char *out, size_t n, qdb_err *e)
{
    if (out && n)
        out[0] = '\0';
    qdb_status st = qdb_atomic_commit(&f->dat, e);
    if (st != QDB_OK) {
        qdb_atomic_abort(&f->scr);
        return st;
    }
    if ((st = qdb_atomic_commit(&f->scr, e)) != QDB_OK)
        return st;
    if (!gp)
        return QDB_OK;
    const char *ext = qdb_plot_format_ext(f->o->format);
    char script[160], tmp[160], final[160], tpath[4096], fpath[4096];
    snprintf(script, sizeof script, "%s.gp", f->base);
    snprintf(tmp, sizeof tmp, ".%s.%s.part", f->base, ext);
    snprintf(final, sizeof final, "%s.%s", f->base, ext);
    if ((st = qdb_plot_path(tpath, sizeof tpath, f->dir, tmp, e)) != QDB_OK ||
        (st = qdb_plot_path(fpath, sizeof fpath, f->dir, final, e)) != QDB_OK)
        return st;
    st = qdb_gnuplot_run(gp, f->dir, script, tmp, f->o->timeout_s, e);
    if (st == QDB_OK && rename(tpath, fpath) != 0)
        st = qdb_err_set(e, QDB_ERR_IO, "%s: cannot rename the figure into place", fpath);
    if (st != QDB_OK) {
        unlink(tpath);
        qdb_err_prefix(e, "%s: ", f->dir);
        return st;
    }
    if (out && n)
        snprintf(out, n, "%s", final);
    return QDB_OK;
}

static const qdb_qlayer *layer_at(const qdb_qmodel *q, int layer, qdb_err *e)
{
    if (!q || layer < 0 || layer >= q->n_layers) {
        qdb_err_set(e, QDB_ERR_INVALID, "no layer %d", layer);
        return NULL;
    }
    return &q->layers[layer];
}

/* ---- activation histogram ---- */

typedef struct thr_group {
    double v;
    int methods[QDB_EM_COUNT + 1];
    int n;
    int active;
} thr_group;

qdb_status qdb_fig_act_hist(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q, int layer,
                            const qdb_plot_opts *o, char *out, size_t n, qdb_err *e)
{
    const qdb_qlayer *l = layer_at(q, layer, e);
    if (!l)
        return e ? e->code : QDB_ERR_INVALID;
    const qdb_histogram *h = l->hist;
    if (!h || !(h->total > 0))
        return qdb_err_set(e, QDB_ERR_INVALID,
                           "layer '%s' has no activation statistics (not calibrated)", l->name);
    char base[128];
    qdb_plot_file_name(base, sizeof base, "act", layer, l->name);
    fig f;
    qdb_status st = fig_open(&f, dir, base, o, "activation histogram over the calibration set", e);
    if (st != QDB_OK)
        return st;

    /* data: index 0 the non-empty bins, index 1 the grid levels */
    fputs("# layer: ", f.d);
    put_comment(f.d, l->name);
    fprintf(f.d, "\n# values: %.17g (the sum of column 3)\n# left_edge right_edge count\n", h->total);
    double ymax = 0, xlo = INFINITY, xhi = -INFINITY;
    for (int i = 0; i < h->n_bins; i++) {
        if (!(h->count[i] > 0))
            continue;
        double a = qdb_histogram_bin_left(h, i), b = qdb_histogram_bin_left(h, i + 1);
        fprintf(f.d, "%.17g %.17g %.17g\n", a, b, h->count[i]);
        ymax = h->count[i] > ymax ? h->count[i] : ymax;
        xlo = a < xlo ? a : xlo;
        xhi = b > xhi ? b : xhi;
    }
    if (!(ymax > 0)) {
        xlo = h->min;
        xhi = h->max;
    }
    fputs("\n\n# quantization grid levels\n", f.d);
    /* the grid in the histogram's domain: the quantizer sees values times
     * act_prescale, moved by out_shift when a shift-negative correction
     * passes through this layer */
    double pre = l->act_prescale > 0 ? l->act_prescale : 1.0;
    double glo = 0, ghi = 0, gd = 0;
    int levels = 0, step = 1;
    if (l->act_active) {
        glo = l->act_grid.lo / pre - l->out_shift;
        ghi = qdb_qgrid_hi(&l->act_grid) / pre - l->out_shift;
        gd = l->act_grid.delta / pre;
        levels = (int)l->act_grid.levels_m1 + 1;
        if (o->grid) {
            step = levels > GRID_MAX_LINES ? (levels + GRID_MAX_LINES - 1) / GRID_MAX_LINES : 1;
            for (int k = 0; k < levels; k += step)
                fprintf(f.d, "%.9g\n", glo + gd * k);
        }
    }
    if (!o->grid || !l->act_active)
        fputs("?\n", f.d);

    /* thresholds, grouped by value so equal ones share a line */
    thr_group g[QDB_EM_COUNT + 1];
    int ng = 0;
    if (l->act_active) {
        for (int m = 0; m <= QDB_EM_COUNT; m++) {
            double v;
            int active;
            if (m < QDB_EM_COUNT) {
                v = l->thr_by_method[m];
                active = !(l->act.fixed_threshold > 0) && (int)l->act.error_method == m;
            } else {
                if (!(l->act.fixed_threshold > 0))
                    break;
                v = qdb_qparams_threshold(&l->act_qp);
                active = 1;
            }
            if (!isfinite(v))
                continue;
            int k = 0;
            while (k < ng && !(fabs(g[k].v - v) <= 1e-12 * fmax(fabs(v), 1e-30)))
                k++;
            if (k == ng) {
                g[ng].v = v;
                g[ng].n = 0;
                g[ng].active = 0;
                ng++;
            }
            g[k].methods[g[k].n++] = m;
            g[k].active |= active;
        }
    }
    int mirror = l->act_active && l->act_signed && l->act_qp.method != QDB_QM_UNIFORM;
    for (int k = 0; k < ng; k++) {
        xhi = fmax(xhi, g[k].v);
        if (mirror)
            xlo = fmin(xlo, -g[k].v);
    }
    if (l->act_active) {
        xlo = fmin(xlo, glo);
        xhi = fmax(xhi, ghi);
    }
    double span = xhi - xlo;
    if (!(span > 0))
        span = fmax(fabs(xhi), 1.0);
    double x0 = xlo - 0.04 * span, x1 = xhi + 0.04 * span;

    char title[512];
    if (l->act_active)
        snprintf(title, sizeof title, "%s (%s): activations, %.0f values; %d-bit %s%s, %s %.4g",
                 l->name, l->op, h->total, l->act_qp.n_bits,
                 l->act_signed ? "signed " : "unsigned ", qdb_quant_method_name(l->act_qp.method),
                 l->act.fixed_threshold > 0 ? "fixed threshold"
                                            : qdb_error_method_name(l->act.error_method),
                 qdb_qparams_threshold(&l->act_qp));
    else
        snprintf(title, sizeof title, "%s (%s): activations, %.0f values; not quantized", l->name,
                 l->op, h->total);
    fig_title(&f, title, l->name);
    fputs("set xlabel \"activation value\"\n", f.s);
    fprintf(f.s, "set xrange [%.17g:%.17g]\n", x0, x1);
    if (o->log_counts)
        fputs("set ylabel \"count (log scale)\"\nset logscale y\nset yrange [0.5:*]\n", f.s);
    else
        fputs("set ylabel \"count\"\nset yrange [0:*]\n", f.s);
    fputs("set key top left opaque box lc rgb \"#cccccc\"\n"
          "set style fill solid 1.0 noborder\n",
          f.s);
    int obj = 1;
    if (l->act_active) {
        double clo = glo - gd / 2, chi = ghi + gd / 2;
        fprintf(f.s, "# clipped: outside the grid [%.9g, %.9g] by more than half a step\n", glo,
                ghi);
        if (clo > x0)
            fprintf(f.s, "set object %d rect from %.17g, graph 0 to %.17g, graph 1 back "
                         "fc rgb \"#f2b8b8\" fs solid 0.45 noborder\n",
                    obj++, x0, clo);
        if (chi < x1)
            fprintf(f.s, "set object %d rect from %.17g, graph 0 to %.17g, graph 1 back "
                         "fc rgb \"#f2b8b8\" fs solid 0.45 noborder\n",
                    obj++, chi, x1);
    }
    int arrow = 1;
    for (int k = 0; k < ng; k++) {
        char label[160];
        size_t at = 0;
        for (int j = 0; j < g[k].n && at < 100; j++) {
            int m = g[k].methods[j];
            at += (size_t)snprintf(label + at, sizeof label - at, "%s%s", j ? "/" : "",
                                   m < QDB_EM_COUNT ? qdb_error_method_name(m) : "fixed");
        }
        snprintf(label + at, sizeof label - at, " %.4g%s", g[k].v, g[k].active ? " (active)" : "");
        int m0 = g[k].methods[0];
        const char *col = g[k].active ? "#c00000" : m0 < QDB_EM_COUNT ? method_colors[m0] : "#000000";
        double lw = g[k].active ? 3.0 : 1.3;
        for (int side = 0; side < 1 + mirror; side++) {
            double x = side ? -g[k].v : g[k].v;
            fputs("# threshold", f.s);
            for (int j = 0; j < g[k].n; j++)
                fprintf(f.s, " %s",
                        g[k].methods[j] < QDB_EM_COUNT ? qdb_error_method_name(g[k].methods[j])
                                                       : "fixed");
            fprintf(f.s, " = %.17g%s\n", x, g[k].active ? " active" : "");
            fprintf(f.s, "set arrow %d from %.17g, graph 0 to %.17g, graph 1 nohead dt 2 lw %.1f "
                         "lc rgb \"%s\" front\n",
                    arrow++, x, x, lw, col);
            if (side) /* the mirrored line goes unlabelled */
                continue;
            fprintf(f.s, "set label %d ", arrow);
            qdb_gnuplot_string(f.s, label);
            fprintf(f.s, " at %.17g, graph 0.98 rotate by 90 right offset character %s,0 "
                         "tc rgb \"%s\" front\n",
                    x, (k % 2) ? "1.2" : "-0.6", col);
        }
    }
    char key[64];
    snprintf(key, sizeof key, "calibration values (%.0f)", h->total);
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, base);
    fputs(" . \".dat\" index 0 using (($1+$2)/2):3:($2-$1) with boxes lc rgb \"#4c72b0\" title ", f.s);
    qdb_gnuplot_string(f.s, key);
    if (l->act_active)
        fputs(", \\\n     NaN with boxes lc rgb \"#f2b8b8\" fs solid 0.45 title \"clipped\"", f.s);
    if (o->grid && l->act_active) {
        char gk[96];
        if (step > 1)
            snprintf(gk, sizeof gk, "%d-bit grid (every %d%s level)", l->act_qp.n_bits, step,
                     step == 2 ? "nd" : step == 3 ? "rd" : "th");
        else
            snprintf(gk, sizeof gk, "%d-bit grid (%d levels)", l->act_qp.n_bits, levels);
        fputs(", \\\n     ", f.s);
        qdb_gnuplot_string(f.s, base);
        fprintf(f.s, " . \".dat\" index 1 using 1:(%.17g) with impulses lc rgb \"#555555\" lw 0.5 "
                     "title ",
                ymax > 0 ? ymax : 1.0);
        qdb_gnuplot_string(f.s, gk);
    }
    fputc('\n', f.s);
    return fig_finish(&f, gp, out, n, e);
}

/* ---- weights ---- */

static const qdb_tensor *kernel_of(const qdb_qmodel *q, const qdb_qlayer *l, qdb_err *e)
{
    const qdb_tensor *w = NULL;
    if (l->w_value >= 0 && q->g0 && l->w_value < q->g0->n_values)
        w = q->g0->values[l->w_value].constant;
    if (!w || w->dtype != QDB_F32 || !w->numel || !w->data.f) {
        qdb_err_set(e, QDB_ERR_INVALID, "layer '%s' has no constant float kernel", l->name);
        return NULL;
    }
    return w;
}

qdb_status qdb_fig_weight_hist(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q, int layer,
                               const qdb_plot_opts *o, char *out, size_t n, qdb_err *e)
{
    const qdb_qlayer *l = layer_at(q, layer, e);
    if (!l)
        return e ? e->code : QDB_ERR_INVALID;
    const qdb_tensor *w = kernel_of(q, l, e);
    if (!w)
        return e->code;
    double mn = INFINITY, mx = -INFINITY;
    size_t finite = 0;
    for (size_t i = 0; i < w->numel; i++)
        if (isfinite(w->data.f[i])) {
            mn = fmin(mn, w->data.f[i]);
            mx = fmax(mx, w->data.f[i]);
            finite++;
        }
    if (!finite)
        return qdb_err_set(e, QDB_ERR_INVALID, "layer '%s': no finite weights", l->name);
    double cnt[WEIGHT_BINS] = {0};
    double bw = mx > mn ? (mx - mn) / WEIGHT_BINS : 1.0;
    for (size_t i = 0; i < w->numel; i++) {
        double v = w->data.f[i];
        if (!isfinite(v))
            continue;
        int b = (int)((v - mn) / bw);
        cnt[b < 0 ? 0 : b >= WEIGHT_BINS ? WEIGHT_BINS - 1 : b] += 1;
    }
    char base[128];
    qdb_plot_file_name(base, sizeof base, "wt", layer, l->name);
    fig f;
    qdb_status st = fig_open(&f, dir, base, o, "histogram of the layer's kernel values", e);
    if (st != QDB_OK)
        return st;
    fputs("# layer: ", f.d);
    put_comment(f.d, l->name);
    fprintf(f.d, "\n# values: %zu (the sum of column 3)\n# left_edge right_edge count\n", finite);
    for (int b = 0; b < WEIGHT_BINS; b++)
        fprintf(f.d, "%.9g %.9g %.17g\n", mn + b * bw, mn + (b + 1) * bw, cnt[b]);
    double tmin = INFINITY, tmax = -INFINITY;
    int have_thr = l->wcfg.enabled && l->n_w_qp > 0;
    for (int c = 0; have_thr && c < l->n_w_qp; c++) {
        double t = qdb_qparams_threshold(&l->w_qp[c]);
        tmin = fmin(tmin, t);
        tmax = fmax(tmax, t);
    }
    char title[512];
    if (have_thr)
        snprintf(title, sizeof title, "%s (%s): %zu weights; %d-bit %s %s, %d threshold%s", l->name,
                 l->op, finite, l->wcfg.n_bits, qdb_quant_method_name(l->wcfg.method),
                 qdb_error_method_name(l->wcfg.error_method), l->n_w_qp, l->n_w_qp == 1 ? "" : "s");
    else
        snprintf(title, sizeof title, "%s (%s): %zu weights; not quantized", l->name, l->op,
                 finite);
    fig_title(&f, title, l->name);
    double lo = mn, hi = mx;
    if (have_thr && isfinite(tmax) && l->w_qp[0].method != QDB_QM_UNIFORM) {
        lo = fmin(lo, -tmax);
        hi = fmax(hi, tmax);
    }
    double span = hi > lo ? hi - lo : 1.0;
    fprintf(f.s, "set xrange [%.17g:%.17g]\n", lo - 0.04 * span, hi + 0.04 * span);
    fputs("set xlabel \"weight value\"\n", f.s);
    if (o->log_counts)
        fputs("set ylabel \"count (log scale)\"\nset logscale y\nset yrange [0.5:*]\n", f.s);
    else
        fputs("set ylabel \"count\"\nset yrange [0:*]\n", f.s);
    fputs("set key top left opaque box lc rgb \"#cccccc\"\nset style fill solid 1.0 noborder\n", f.s);
    if (have_thr && isfinite(tmax) && l->w_qp[0].method != QDB_QM_UNIFORM) {
        int a = 1;
        double vals[2] = {tmax, tmin};
        const char *what[2] = {"largest channel threshold", "smallest channel threshold"};
        for (int k = 0; k < (l->n_w_qp > 1 && tmin < tmax ? 2 : 1); k++)
            for (int side = 0; side < 2; side++) {
                double x = side ? -vals[k] : vals[k];
                fprintf(f.s, "# weight threshold = %.17g\n", x);
                fprintf(f.s, "set arrow %d from %.17g, graph 0 to %.17g, graph 1 nohead dt 2 lw 1.5 "
                             "lc rgb \"%s\" front\n",
                        a, x, x, k ? "#2ca02c" : "#c00000");
                if (!side) {
                    char lab[96];
                    snprintf(lab, sizeof lab, "%s %.4g",
                             l->n_w_qp > 1 ? what[k] : "threshold", vals[k]);
                    fprintf(f.s, "set label %d ", a);
                    qdb_gnuplot_string(f.s, lab);
                    fprintf(f.s, " at %.17g, graph 0.98 rotate by 90 right offset character "
                                 "-0.6,0 front\n", x);
                }
                a++;
            }
    }
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, base);
    fputs(" . \".dat\" using (($1+$2)/2):3:($2-$1) with boxes lc rgb \"#55a868\" title \"kernel values\"\n",
          f.s);
    return fig_finish(&f, gp, out, n, e);
}

qdb_status qdb_fig_weight_channels(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                                   int layer, const qdb_plot_opts *o, char *out, size_t n,
                                   qdb_err *e)
{
    const qdb_qlayer *l = layer_at(q, layer, e);
    if (!l)
        return e ? e->code : QDB_ERR_INVALID;
    const qdb_tensor *w = kernel_of(q, l, e);
    if (!w)
        return e->code;
    if (!l->wcfg.enabled || l->n_w_qp <= 0 || !l->w_qp)
        return qdb_err_set(e, QDB_ERR_INVALID, "layer '%s': weights not quantized", l->name);
    /* max |w| per output channel: the kernel as [outer, channels, inner] */
    int ax = l->w_axis, nch = l->w_channels;
    if (ax < 0 || ax >= w->shape.ndim || w->shape.d[ax] != nch || nch <= 0)
        return qdb_err_set(e, QDB_ERR_SHAPE, "layer '%s': kernel axis %d does not hold %d channels",
                           l->name, ax, nch);
    size_t inner = 1, outer = 1;
    for (int i = 0; i < w->shape.ndim; i++) {
        if (i < ax)
            outer *= (size_t)w->shape.d[i];
        else if (i > ax)
            inner *= (size_t)w->shape.d[i];
    }
    double *mabs = calloc((size_t)nch, sizeof *mabs);
    if (!mabs)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (size_t a = 0; a < outer; a++)
        for (int c = 0; c < nch; c++)
            for (size_t i = 0; i < inner; i++) {
                double v = fabs(w->data.f[(a * (size_t)nch + (size_t)c) * inner + i]);
                if (v > mabs[c])
                    mabs[c] = v;
            }
    char base[128];
    qdb_plot_file_name(base, sizeof base, "wch", layer, l->name);
    fig f;
    qdb_status st = fig_open(&f, dir, base, o, "per-channel weight thresholds", e);
    if (st != QDB_OK) {
        free(mabs);
        return st;
    }
    fputs("# layer: ", f.d);
    put_comment(f.d, l->name);
    fputs("\n# channel threshold max_abs_weight\n", f.d);
    for (int c = 0; c < nch; c++) {
        const qdb_qparams *p = &l->w_qp[l->n_w_qp == nch ? c : 0];
        fprintf(f.d, "%d %.17g %.17g\n", c, qdb_qparams_threshold(p), mabs[c]);
    }
    free(mabs);
    char title[512];
    snprintf(title, sizeof title, "%s (%s): weight thresholds of %d output channel%s (%s)", l->name,
             l->op, nch, nch == 1 ? "" : "s", l->n_w_qp == nch ? "per channel" : "per tensor");
    fig_title(&f, title, l->name);
    fputs("set xlabel \"output channel\"\nset ylabel \"value\"\nset yrange [0:*]\n"
          "set key top right opaque box lc rgb \"#cccccc\"\nset style fill solid 0.6 noborder\n"
          "set boxwidth 0.8\n",
          f.s);
    fprintf(f.s, "set xrange [-1:%d]\n", nch);
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, base);
    fputs(" . \".dat\" using 1:2 with boxes lc rgb \"#4c72b0\" title \"threshold\", \\\n     ", f.s);
    qdb_gnuplot_string(f.s, base);
    fputs(" . \".dat\" using 1:3 with points pt 7 ps 0.6 lc rgb \"#c00000\" title \"max |w|\"\n",
          f.s);
    return fig_finish(&f, gp, out, n, e);
}

/* ---- across layers ---- */

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " %.17g", v);
    else
        fputs(" ?", f);
}

qdb_status qdb_fig_sqnr(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                        const qdb_plot_opts *o, char *out, size_t n, qdb_err *e)
{
    int valid = 0;
    for (int i = 0; q && i < q->n_layers; i++)
        valid += q->layers[i].m.valid;
    if (!valid)
        return qdb_err_set(e, QDB_ERR_INVALID, "no per-layer SQNR measured");
    int k = o->top > 0 ? o->top : 5;
    int *worst = malloc((size_t)k * sizeof *worst);
    if (!worst)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (int j = 0; j < k; j++)
        worst[j] = -1;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *l = &q->layers[i];
        if (!l->m.valid || !isfinite(l->m.sqnr_own_db))
            continue;
        for (int j = 0; j < k; j++)
            if (worst[j] < 0 || l->m.sqnr_own_db < q->layers[worst[j]].m.sqnr_own_db) {
                memmove(worst + j + 1, worst + j, (size_t)(k - j - 1) * sizeof *worst);
                worst[j] = i;
                break;
            }
    }
    fig f;
    qdb_status st = fig_open(&f, dir, "sqnr", o, "per-layer SQNR in dB (own and accumulated)", e);
    if (st != QDB_OK) {
        free(worst);
        return st;
    }
    fputs("# layer_index sqnr_own_db sqnr_accumulated_db  ('?': not measured or exact)\n", f.d);
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *l = &q->layers[i];
        fprintf(f.d, "%d", i);
        put_num(f.d, l->m.valid ? l->m.sqnr_own_db : NAN);
        put_num(f.d, l->m.valid ? l->m.sqnr_db : NAN);
        fputs("  # ", f.d);
        put_comment(f.d, l->name);
        fputc('\n', f.d);
    }
    fig_title(&f, "per-layer SQNR (dB): own = float input, accumulated = quantized network up to the layer",
              NULL);
    fputs("set xlabel \"layer\"\nset ylabel \"SQNR (dB)\"\nset yrange [*<0:*]\n"
          "set key bottom left opaque box lc rgb \"#cccccc\"\nset style fill solid 0.5 noborder\n"
          "set boxwidth 0.8\n",
          f.s);
    fprintf(f.s, "set xrange [-1:%d]\n", q->n_layers);
    for (int j = 0; j < k && worst[j] >= 0; j++) {
        const qdb_qlayer *l = &q->layers[worst[j]];
        fprintf(f.s, "# worst %d: layer %d\nset label %d ", j + 1, worst[j], j + 1);
        qdb_gnuplot_string(f.s, l->name);
        fprintf(f.s, " at %d, %.17g rotate by 30 left offset character 0.5,0.3 tc rgb \"#c00000\" "
                     "front point pt 6 ps 1.5 lc rgb \"#c00000\"\n",
                worst[j], l->m.sqnr_own_db);
    }
    free(worst);
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, "sqnr");
    fputs(" . \".dat\" using 1:2 with boxes lc rgb \"#4c72b0\" title \"own\", \\\n     ", f.s);
    qdb_gnuplot_string(f.s, "sqnr");
    fputs(" . \".dat\" using 1:3 with linespoints pt 7 ps 0.5 lw 1.5 lc rgb \"#dd8452\" "
          "title \"accumulated\"\n",
          f.s);
    return fig_finish(&f, gp, out, n, e);
}

/* xtics from names: set xtics ("a" 0, "b" 1, ...) */
static void put_xtics(FILE *s, const char *const *names, int n)
{
    fputs("set xtics rotate by 45 right (", s);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", s);
        qdb_gnuplot_string(s, names[i]);
        fprintf(s, " %d", i);
    }
    fputs(")\n", s);
}

qdb_status qdb_fig_sensitivity(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                               const qdb_sensitivity *s, const qdb_plot_opts *o, char *out,
                               size_t n, qdb_err *e)
{
    if (!s || s->n <= 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "no sensitivity results");
    int *order = malloc((size_t)s->n * sizeof *order);
    const char **names = malloc((size_t)s->n * sizeof *names);
    if (!order || !names) {
        free(order);
        free(names);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    qdb_sensitivity_rank(s, order);
    int k = o->top > 0 ? o->top : 30, shown = 0;
    fig f;
    qdb_status st = fig_open(&f, dir, "sensitivity", o, "per-layer sensitivity, most sensitive first", e);
    if (st != QDB_OK)
        goto out;
    fputs("# rank layer_position regained_points(kept float) drop_points(only it quantized) "
          "sqnr_only_db\n",
          f.d);
    for (int r = 0; r < s->n && shown < k; r++) {
        const qdb_sens_layer *sl = &s->layers[order[r]]; /* order: entries of s->layers */
        if (!sl->done)
            continue;
        const qdb_qlayer *l = qdb_qmodel_own_layer(q, sl->index);
        names[shown] = l ? l->name : "?";
        fprintf(f.d, "%d %d", shown, sl->index);
        put_num(f.d, 100.0 * (sl->all_but.score - s->quant.score));
        put_num(f.d, 100.0 * (s->float_s.score - sl->only.score));
        put_num(f.d, sl->only.sqnr_db);
        fputs("  # ", f.d);
        put_comment(f.d, names[shown]);
        fputc('\n', f.d);
        shown++;
    }
    if (!shown) {
        fig_abort(&f);
        st = qdb_err_set(e, QDB_ERR_INVALID, "no layer's sensitivity was measured");
        goto out;
    }
    char title[256];
    snprintf(title, sizeof title, "sensitivity: the %d most sensitive layers (%lld samples)", shown,
             (long long)s->samples);
    fig_title(&f, title, NULL);
    fputs("set ylabel \"points\"\nset key top right opaque box lc rgb \"#cccccc\"\n"
          "set style fill solid 0.7 noborder\nset boxwidth 0.4\n",
          f.s);
    fprintf(f.s, "set xrange [-0.7:%g]\n", shown - 0.3);
    put_xtics(f.s, names, shown);
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, "sensitivity");
    fputs(" . \".dat\" using ($1-0.2):3 with boxes lc rgb \"#4c72b0\" "
          "title \"regained when kept float\", \\\n     ",
          f.s);
    qdb_gnuplot_string(f.s, "sensitivity");
    fputs(" . \".dat\" using ($1+0.2):4 with boxes lc rgb \"#c44e52\" "
          "title \"lost when only it is quantized\"\n",
          f.s);
    st = fig_finish(&f, gp, out, n, e);
out:
    free(order);
    free(names);
    return st;
}

qdb_status qdb_fig_bisect(qdb_gnuplot *gp, const char *dir, const qdb_qmodel *q,
                          const qdb_bisect *b, const qdb_plot_opts *o, char *out, size_t n,
                          qdb_err *e)
{
    if (!b || b->n_culprits <= 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "bisect found no culprits to plot");
    int nc = b->n_culprits;
    int *ord = malloc((size_t)nc * sizeof *ord);
    const char **names = malloc((size_t)nc * sizeof *names);
    if (!ord || !names) {
        free(ord);
        free(names);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nc; i++)
        ord[i] = i;
    for (int i = 1; i < nc; i++) /* rank: best score alone first */
        for (int j = i; j > 0 && b->alone && b->alone[ord[j]] > b->alone[ord[j - 1]]; j--) {
            int t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    fig f;
    qdb_status st = fig_open(&f, dir, "bisect", o, "bisect culprits, ranked by their score alone", e);
    if (st != QDB_OK)
        goto out;
    fputs("# rank layer_position score_with_only_it_raised_percent\n", f.d);
    for (int r = 0; r < nc; r++) {
        int li = b->culprits[ord[r]];
        const qdb_qlayer *l = qdb_qmodel_own_layer(q, li);
        names[r] = l ? l->name : "?";
        fprintf(f.d, "%d %d", r, li);
        put_num(f.d, b->alone ? 100.0 * b->alone[ord[r]] : NAN);
        fputs("  # ", f.d);
        put_comment(f.d, names[r]);
        fputc('\n', f.d);
    }
    char title[256];
    snprintf(title, sizeof title, "bisect: %d culprit%s (%s the target; %d probes)", nc,
             nc == 1 ? "" : "s", b->found ? "reach" : "do not reach", b->evaluations);
    fig_title(&f, title, NULL);
    fputs("set ylabel \"score (%)\"\nset key bottom right opaque box lc rgb \"#cccccc\"\n"
          "set style fill solid 0.7 noborder\nset boxwidth 0.6\n",
          f.s);
    fprintf(f.s, "set xrange [-0.7:%g]\n", nc - 0.3);
    put_xtics(f.s, names, nc);
    struct { const char *what; double v; const char *col; } hl[] = {
        {"float", b->float_s.score, "#2ca02c"}, {"target", b->target, "#ff7f0e"},
        {"all quantized", b->base.score, "#c00000"}, {"culprits raised", b->final.score, "#1f77b4"},
    };
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, "bisect");
    fputs(" . \".dat\" using 1:3 with boxes lc rgb \"#4c72b0\" title \"only this culprit raised\"", f.s);
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
        if (!isfinite(hl[i].v))
            continue;
        char t[96];
        snprintf(t, sizeof t, "%s %.2f %%", hl[i].what, 100.0 * hl[i].v);
        fprintf(f.s, ", \\\n     %.17g with lines dt 2 lw 1.5 lc rgb \"%s\" title ", 100.0 * hl[i].v,
                hl[i].col);
        qdb_gnuplot_string(f.s, t);
    }
    fputc('\n', f.s);
    st = fig_finish(&f, gp, out, n, e);
out:
    free(ord);
    free(names);
    return st;
}

qdb_status qdb_fig_history(qdb_gnuplot *gp, const char *dir, const qdb_history *h,
                           const qdb_plot_opts *o, char *out, size_t n, qdb_err *e)
{
    if (!h || h->n <= 0)
        return qdb_err_set(e, QDB_ERR_INVALID, "the re-quantization history is empty");
    const char **names = malloc((size_t)h->n * sizeof *names);
    if (!names)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    fig f;
    qdb_status st = fig_open(&f, dir, "history", o, "accuracy over the re-quantization history", e);
    if (st != QDB_OK) {
        free(names);
        return st;
    }
    fputs("# step score_percent float_score_percent rules_in_force\n", f.d);
    for (int i = 0; i < h->n; i++) {
        names[i] = h->e[i].label ? h->e[i].label : "?";
        fprintf(f.d, "%d", i);
        put_num(f.d, 100.0 * h->e[i].score);
        put_num(f.d, 100.0 * h->e[i].float_score);
        fprintf(f.d, " %d  # ", h->e[i].n_rules);
        put_comment(f.d, names[i]);
        fputc('\n', f.d);
    }
    fig_title(&f, "accuracy over the re-quantization history", NULL);
    fputs("set ylabel \"score (%)\"\nset key bottom right opaque box lc rgb \"#cccccc\"\n", f.s);
    fprintf(f.s, "set xrange [-0.5:%g]\n", h->n - 0.5);
    put_xtics(f.s, names, h->n);
    fputs("plot ", f.s);
    qdb_gnuplot_string(f.s, "history");
    fputs(" . \".dat\" using 1:2 with linespoints pt 7 lw 2 lc rgb \"#4c72b0\" title \"quantized\", \\\n     ",
          f.s);
    qdb_gnuplot_string(f.s, "history");
    fputs(" . \".dat\" using 1:3 with lines dt 2 lw 1.5 lc rgb \"#2ca02c\" title \"float\"\n", f.s);
    free(names);
    return fig_finish(&f, gp, out, n, e);
}

int qdb_plot_size_parse(const char *v, int *w, int *h)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || (*end != 'x' && *end != 'X'))
        return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end || a < 64 || b < 64 || a > 10000 || b > 10000)
        return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}
