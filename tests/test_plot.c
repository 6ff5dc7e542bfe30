/* test_plot.c - plotting/: the figures' files checked for real on a small
 * quantized model (a chain of 1x1 convolutions, signed activations): the
 * histogram data sums to the calibration values, the threshold lines sit
 * at the engine's thresholds, the PNG has its signature and the size
 * asked for, the SVG parses as XML and shows the threshold labels, the PDF
 * starts with its header; layer names with quotes, spaces, slashes and
 * backquotes give safe file names and literal text; a missing gnuplot and
 * a failing script are reported; the output directory rules; the ranked
 * charts and the report. Needs gnuplot (and /usr/bin/python3 for the XML
 * check; without it a simpler well-formedness check runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "figures.h"
#include "gnuplot.h"
#include "outdir.h"
#include "qmodel.h"
#include "quant_fixtures.h"
#include "report.h"
#include "tmpdir.h"

#define NSAMP 512
#define NCH 8

static qdb_qmodel *model(qdb_graph **gout, qdb_dataset **dout)
{
    static int k;
    qdb_graph *g = qf_chain(3, NCH);
    qdb_tensor *x = qf_random_input(NSAMP, NCH, 1, 1, 1.0f, 0.2f);
    char name[32];
    snprintf(name, sizeof name, "calib%d.npy", k++);
    qdb_dataset *d = qf_dataset(name, x, NULL);
    qdb_tensor_free(x);
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    c.shift_negative_activation_correction = 0;
    qdb_err e = {0};
    qdb_qmodel *q = qdb_qmodel_new(g, &c, &e);
    if (!q || qdb_qmodel_calibrate(q, d, NULL, &e) != QDB_OK || qdb_qmodel_quantize(q, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    *gout = g;
    *dout = d;
    return q;
}

static void drop(qdb_qmodel *q, qdb_graph *g, qdb_dataset *d)
{
    qdb_qmodel_free(q);
    qdb_graph_free(g);
    qdb_dataset_free(d);
}

/* A fresh directory under the scratch directory. */
static const char *subdir(const char *name)
{
    static char path[768];
    snprintf(path, sizeof path, "%s/%s", tmpdir_path(), name);
    assert_int_equal(mkdir(path, 0777), 0);
    return path;
}

static char *slurp(const char *dir, const char *file, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *b = tmpdir_slurp(path, len);
    if (!b)
        fail_msg("cannot read %s", path);
    return b;
}

/* The first layer quantized signed (the chain's inputs are N(0.2, 1)). */
static int signed_layer(const qdb_qmodel *q)
{
    for (int i = 0; i < q->n_layers; i++)
        if (q->layers[i].act_active && q->layers[i].act_signed && q->layers[i].hist)
            return i;
    fail_msg("no signed quantized layer");
    return -1;
}

static void test_histogram_data_and_threshold_lines(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("data");
    int L = signed_layer(q);
    const qdb_qlayer *l = &q->layers[L];
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    qdb_err e = {0};
    char out[256];
    /* no gnuplot: the data and the script only */
    assert_int_equal(qdb_fig_act_hist(NULL, dir, q, L, &o, out, sizeof out, &e), QDB_OK);
    assert_string_equal(out, "");
    char base[160], file[200];
    qdb_plot_file_name(base, sizeof base, "act", L, l->name);
    snprintf(file, sizeof file, "%s.dat", base);
    char *dat = slurp(dir, file, NULL);
    /* index 0 (up to the first blank line): left right count */
    double sum = 0;
    int rows = 0;
    for (char *line = strtok(dat, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        double a, b, c;
        if (sscanf(line, "%lf %lf %lf", &a, &b, &c) != 3)
            break; /* the grid block */
        assert_true(b > a);
        sum += c;
        rows++;
    }
    free(dat);
    assert_true(rows > 10);
    assert_true(l->hist->total == (double)NSAMP * NCH);
    assert_true(fabs(sum - l->hist->total) <= 1e-9 * l->hist->total);

    /* every "set arrow" sits at a method's threshold (both signs: signed
     * layer) and every method's threshold has its arrow */
    snprintf(file, sizeof file, "%s.gp", base);
    char *gp = slurp(dir, file, NULL);
    double xs[64];
    int nx = 0;
    for (char *p = strstr(gp, "\nset arrow "); p; p = strstr(p + 1, "\nset arrow ")) {
        int id;
        double x;
        assert_int_equal(sscanf(p, "\nset arrow %d from %lf,", &id, &x), 2);
        assert_true(nx < 64);
        xs[nx++] = x;
    }
    int methods = 0;
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        double t = l->thr_by_method[m];
        if (!isfinite(t))
            continue;
        methods++;
        int pos = 0, neg = 0;
        for (int i = 0; i < nx; i++) {
            pos |= fabs(xs[i] - t) <= 1e-12 * fabs(t);
            neg |= fabs(xs[i] + t) <= 1e-12 * fabs(t);
        }
        assert_true(pos && neg);
        /* its label names it with its value */
        char v[32];
        snprintf(v, sizeof v, " %.4g", t);
        const char *lab = strstr(gp, qdb_error_method_name(m));
        assert_non_null(lab);
        assert_non_null(strstr(gp, v));
    }
    assert_int_equal(methods, QDB_EM_COUNT);
    for (int i = 0; i < nx; i++) {
        int hit = 0;
        for (int m = 0; m < QDB_EM_COUNT; m++)
            hit |= fabs(fabs(xs[i]) - l->thr_by_method[m]) <= 1e-12 * fabs(xs[i]);
        assert_true(hit);
    }
    /* the active method is emphasised */
    char act[64];
    snprintf(act, sizeof act, "%s", qdb_error_method_name(l->act.error_method));
    char *em = strstr(gp, "(active)");
    assert_non_null(em);
    free(gp);
    drop(q, g, d);
}

static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static void test_png_has_the_size_asked(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("png");
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.width = 613;
    o.height = 401;
    o.grid = 1;
    char out[256];
    for (int L = 0; L < q->n_layers; L++) {
        if (qdb_fig_act_hist(gp, dir, q, L, &o, out, sizeof out, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        size_t n;
        unsigned char *b = (unsigned char *)slurp(dir, out, &n);
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        assert_true(n > 33);
        assert_memory_equal(b, sig, 8);
        assert_memory_equal(b + 12, "IHDR", 4);
        assert_int_equal(be32(b + 16), 613);
        assert_int_equal(be32(b + 20), 401);
        free(b);
        /* the temporary name is gone */
        char part[1100];
        snprintf(part, sizeof part, "%s/.%s.part", dir, out);
        assert_int_not_equal(access(part, F_OK), 0);
    }
    /* one gnuplot process for all of them */
    assert_int_equal(qdb_gnuplot_processes(gp), 1);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

/* python3's XML parser on the file; 1 parsed, 0 did not, -1 no python3. */
static int xml_parses(const char *path)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "
             "'%s' 2>/dev/null",
             path);
    int st = system(cmd);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Does the SVG hold `text` as the content of a text element? (python3) */
static int svg_has_text(const char *path, const char *text)
{
    char tf[600];
    snprintf(tf, sizeof tf, "%s.expect", path);
    FILE *f = fopen(tf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys, xml.dom.minidom\n"
             "d = xml.dom.minidom.parse(sys.argv[1])\n"
             "want = open(sys.argv[2], encoding=\"utf-8\").read()\n"
             "def txt(n): return \"\".join(c.data if c.nodeType == c.TEXT_NODE else txt(c) for c in n.childNodes)\n"
             "sys.exit(0 if any(txt(t).strip() == want for t in d.getElementsByTagName(\"text\")) else 1)' "
             "'%s' '%s'",
             path, tf);
    int st = system(cmd);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_svg_parses_and_shows_the_labels(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("svg");
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.format = QDB_PLOT_SVG;
    int L = signed_layer(q);
    const qdb_qlayer *l = &q->layers[L];
    char out[256], path[1100];
    assert_int_equal(qdb_fig_act_hist(gp, dir, q, L, &o, out, sizeof out, &e), QDB_OK);
    snprintf(path, sizeof path, "%s/%s", dir, out);
    char *svg = slurp(dir, out, NULL);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "</svg>"));
    for (int m = 0; m < QDB_EM_COUNT; m++) {
        assert_non_null(strstr(svg, qdb_error_method_name(m)));
        char v[32];
        snprintf(v, sizeof v, " %.4g", l->thr_by_method[m]);
        assert_non_null(strstr(svg, v));
    }
    free(svg);
    int x = xml_parses(path);
    if (x >= 0)
        assert_int_equal(x, 1);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

static void test_pdf_header(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("pdf");
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.format = qdb_plot_format_parse("figure.PDF");
    assert_int_equal(o.format, QDB_PLOT_PDF);
    char out[256];
    int L = 0; /* a layer with a kernel */
    while (L < q->n_layers && q->layers[L].w_value < 0)
        L++;
    assert_true(L < q->n_layers);
    assert_int_equal(qdb_fig_act_hist(gp, dir, q, L, &o, out, sizeof out, &e), QDB_OK);
    assert_non_null(strstr(out, ".pdf"));
    size_t n;
    char *b = slurp(dir, out, &n);
    assert_true(n > 100);
    assert_memory_equal(b, "%PDF-", 5);
    free(b);
    /* the weight figures as well */
    assert_int_equal(qdb_fig_weight_hist(gp, dir, q, L, &o, out, sizeof out, &e), QDB_OK);
    b = slurp(dir, out, &n);
    assert_memory_equal(b, "%PDF-", 5);
    free(b);
    assert_int_equal(qdb_fig_weight_channels(gp, dir, q, L, &o, out, sizeof out, &e), QDB_OK);
    b = slurp(dir, out, &n);
    assert_memory_equal(b, "%PDF-", 5);
    free(b);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

static void test_hostile_layer_names(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("names");
    static const char *const names[] = {
        "../../escape \"quoted\" 'single'",
        "/abs/path/with spaces_and_under_scores^{up}",
        "back`echo pwned`quote @macro $x \\n \\ end",
    };
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.format = QDB_PLOT_SVG;
    for (int k = 0; k < 3; k++) {
        int L = k % q->n_layers;
        free(q->layers[L].name);
        q->layers[L].name = strdup(names[k]);
        assert_non_null(q->layers[L].name);
        char out[256];
        if (qdb_fig_act_hist(gp, dir, q, L, &o, out, sizeof out, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        /* a plain file name of safe bytes, in dir */
        assert_null(strchr(out, '/'));
        for (const char *p = out; *p; p++)
            assert_non_null(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                                   *p));
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, out);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        /* the title shows the name literally (no enhanced text, no command
         * substitution) */
        if (access("/usr/bin/python3", X_OK) == 0) {
            assert_int_equal(xml_parses(path), 1);
            char title[600];
            const qdb_qlayer *l = &q->layers[L];
            snprintf(title, sizeof title, "%s (%s): activations, %.0f values; %d-bit %s%s, %s %.4g",
                     l->name, l->op, l->hist->total, l->act_qp.n_bits,
                     l->act_signed ? "signed " : "unsigned ",
                     qdb_quant_method_name(l->act_qp.method),
                     qdb_error_method_name(l->act.error_method), qdb_qparams_threshold(&l->act_qp));
            assert_true(svg_has_text(path, title));
        }
    }
    /* nothing escaped: the parent directories hold no stray figures */
    char up[1024];
    snprintf(up, sizeof up, "%s/escape", tmpdir_path());
    assert_int_not_equal(access(up, F_OK), 0);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

static void test_gnuplot_missing(void **state)
{
    (void)state;
    const char *dir = subdir("nopath");
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char *oldgp = getenv("QDB_GNUPLOT") ? strdup(getenv("QDB_GNUPLOT")) : NULL;
    setenv("PATH", dir, 1); /* an empty directory */
    unsetenv("QDB_GNUPLOT");
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (old)
        setenv("PATH", old, 1);
    if (oldgp)
        setenv("QDB_GNUPLOT", oldgp, 1);
    free(old);
    free(oldgp);
    assert_null(gp);
    assert_non_null(strstr(e.msg, "gnuplot not found"));
    assert_non_null(strstr(e.msg, "gnuplot-nox"));
    assert_non_null(strstr(e.msg, "make deps"));
}

static void test_failing_script_is_reported_and_gnuplot_goes_on(void **state)
{
    (void)state;
    const char *dir = subdir("bad");
    char path[1024];
    snprintf(path, sizeof path, "%s/bad.gp", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("set terminal svg\nset output 'bad.svg'\nthis is not gnuplot\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/good.gp", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("set terminal svg\nset output 'good.svg'\nplot x\n", f);
    fclose(f);
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    assert_int_equal(qdb_gnuplot_run(gp, dir, "bad.gp", NULL, 30, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "bad.gp"));
    assert_non_null(strstr(e.msg, "line 3"));
    qdb_err_clear(&e);
    assert_int_equal(qdb_gnuplot_run(gp, dir, "good.gp", NULL, 30, &e), QDB_OK);
    assert_int_equal(qdb_gnuplot_processes(gp), 1);
    char *svg = slurp(dir, "good.svg", NULL);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    /* gnuplot quits: the next script starts another */
    snprintf(path, sizeof path, "%s/quit.gp", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("exit gnuplot\n", f);
    fclose(f);
    assert_int_equal(qdb_gnuplot_run(gp, dir, "quit.gp", NULL, 30, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "exited"));
    assert_int_equal(qdb_gnuplot_run(gp, dir, "good.gp", NULL, 30, &e), QDB_OK);
    assert_int_equal(qdb_gnuplot_processes(gp), 2);
    qdb_gnuplot_close(gp);
}

static void test_output_directory(void **state)
{
    (void)state;
    qdb_err e = {0};
    char p[600];
    snprintf(p, sizeof p, "%s/made", tmpdir_path());
    assert_int_equal(qdb_plot_outdir(p, &e), QDB_OK); /* created: its parent exists */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(p, sizeof p, "%s/no/such/dir", tmpdir_path());
    assert_int_equal(qdb_plot_outdir(p, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "parent does not exist"));
    snprintf(p, sizeof p, "%s/afile", tmpdir_path());
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(qdb_plot_outdir(p, &e), QDB_ERR_IO);
    assert_non_null(strstr(e.msg, "not a directory"));
    if (geteuid() != 0) { /* root writes anywhere */
        snprintf(p, sizeof p, "%s/ro", tmpdir_path());
        assert_int_equal(mkdir(p, 0555), 0);
        assert_int_equal(qdb_plot_outdir(p, &e), QDB_ERR_IO);
        assert_non_null(strstr(e.msg, "cannot be written"));
    }
    /* a figure into a missing directory fails cleanly */
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    snprintf(p, sizeof p, "%s/absent/dir", tmpdir_path());
    char out[256];
    assert_int_not_equal(qdb_fig_act_hist(NULL, p, q, 0, &o, out, sizeof out, &e), QDB_OK);
    drop(q, g, d);
    /* file names */
    char b[64];
    qdb_plot_file_name(b, sizeof b, "act", 7, "a/b c\"d'..");
    assert_string_equal(b, "act_007_a_b_c_d_..");
    qdb_plot_file_name(b, sizeof b, "act", 3, "");
    assert_string_equal(b, "act_003__");
}

static void test_ranked_charts_and_history(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    const char *dir = subdir("ranked");
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.format = QDB_PLOT_SVG;
    /* sensitivity: layer 1 the most sensitive */
    qdb_sens_layer sl[3];
    memset(sl, 0, sizeof sl);
    double regain[3] = {0.01, 0.05, 0.02};
    for (int i = 0; i < 3; i++) {
        sl[i].index = i;
        sl[i].done = 1;
        sl[i].all_but.score = 0.80 + regain[i];
        sl[i].only.score = 0.90 - regain[i];
        sl[i].only.sqnr_db = 30 - 5 * i;
    }
    qdb_sensitivity s = {.n = 3, .layers = sl, .samples = 100, .complete = 1};
    s.float_s.score = 0.9;
    s.quant.score = 0.8;
    char out[256];
    if (qdb_fig_sensitivity(gp, dir, q, &s, &o, out, sizeof out, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    char *dat = slurp(dir, "sensitivity.dat", NULL);
    int rank, pos;
    double rg;
    char *first = strstr(dat, "\n0 ");
    assert_non_null(first);
    assert_int_equal(sscanf(first, "\n%d %d %lf", &rank, &pos, &rg), 3);
    assert_int_equal(pos, 1);
    assert_true(fabs(rg - 5.0) < 1e-9);
    free(dat);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, out);
    if (xml_parses(path) >= 0)
        assert_int_equal(xml_parses(path), 1);
    /* bisect */
    int culprits[2] = {2, 0};
    double alone[2] = {0.83, 0.86};
    qdb_bisect b = {.n_layers = 3, .target = 0.895, .found = 1, .n_culprits = 2,
                    .culprits = culprits, .alone = alone, .evaluations = 7};
    b.float_s.score = 0.9;
    b.base.score = 0.8;
    b.final.score = 0.897;
    if (qdb_fig_bisect(gp, dir, q, &b, &o, out, sizeof out, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    dat = slurp(dir, "bisect.dat", NULL);
    first = strstr(dat, "\n0 ");
    assert_non_null(first);
    assert_int_equal(sscanf(first, "\n%d %d %lf", &rank, &pos, &rg), 3);
    assert_int_equal(pos, 0); /* the best alone first */
    assert_true(fabs(rg - 86.0) < 1e-9);
    free(dat);
    /* history */
    qdb_history h;
    qdb_history_init(&h);
    assert_int_equal(qdb_history_add(&h, "baseline", NULL, -1, 0.80, 0.9, &e), QDB_OK);
    assert_int_equal(qdb_history_add(&h, "with \"rule\" 1", NULL, -1, 0.88, 0.9, &e), QDB_OK);
    if (qdb_fig_history(gp, dir, &h, &o, out, sizeof out, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/%s", dir, out);
    if (access("/usr/bin/python3", X_OK) == 0)
        assert_true(svg_has_text(path, "with \"rule\" 1"));
    qdb_history_clear(&h);
    assert_int_equal(qdb_gnuplot_processes(gp), 1);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

static void test_report_pages(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    qdb_err e = {0};
    assert_int_equal(qdb_dataset_rewind(d, &e), QDB_OK);
    assert_int_equal(qdb_qmodel_measure(q, d, 0, NULL, &e), QDB_OK);
    free(q->layers[1].name);
    q->layers[1].name = strdup("<b>&amp; | *x*");
    assert_non_null(q->layers[1].name);
    char dir[768];
    snprintf(dir, sizeof dir, "%s/report", tmpdir_path()); /* created by the report */
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    o.format = QDB_PLOT_SVG;
    qdb_report_input in = {.model = "chain.onnx", .q = q, .calib_spec = "npy:calib",
                           .float_acc = 0.9, .quant_acc = 0.85, .agreement = 0.95,
                           .eval_spec = "npy:eval", .eval_samples = 100, .labelled = 1};
    qdb_report_result res;
    if (qdb_report_write(gp, dir, &in, &o, &res, &e) != QDB_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(res.failed, 0);
    int with_hist = 0;
    for (int i = 0; i < q->n_layers; i++)
        with_hist += q->layers[i].hist != NULL;
    assert_int_equal(res.figures, with_hist + 1); /* + the SQNR chart */
    char *html = slurp(dir, "report.html", NULL);
    /* every image the page shows exists in dir */
    int imgs = 0;
    for (char *p = strstr(html, "<img src=\""); p; p = strstr(p + 1, "<img src=\"")) {
        char file[256];
        assert_int_equal(sscanf(p, "<img src=\"%255[^\"]\"", file), 1);
        assert_null(strchr(file, '/'));
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        assert_int_equal(access(path, R_OK), 0);
        imgs++;
    }
    assert_int_equal(imgs, res.figures);
    assert_non_null(strstr(html, "&lt;b&gt;&amp;amp; | *x*")); /* escaped, not markup */
    assert_null(strstr(html, "<b>&amp;"));
    assert_non_null(strstr(html, "90.00 %"));
    assert_non_null(strstr(html, "-5.00 points"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    free(html);
    char *md = slurp(dir, "report.md", NULL);
    assert_non_null(strstr(md, "\\<b\\>\\&amp; \\| \\*x\\*"));
    assert_non_null(strstr(md, "![per-layer SQNR](sqnr.svg)"));
    free(md);
    qdb_gnuplot_close(gp);
    drop(q, g, d);
}

/* A relative output directory stays right for every figure (gnuplot's own
 * working directory moves with each script). */
static void test_relative_directory(void **state)
{
    (void)state;
    qdb_graph *g;
    qdb_dataset *d;
    qdb_qmodel *q = model(&g, &d);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir_path()), 0);
    assert_int_equal(mkdir("rel", 0777), 0);
    qdb_err e = {0};
    qdb_gnuplot *gp = qdb_gnuplot_open(&e);
    if (!gp)
        fail_msg("%s", e.msg);
    qdb_plot_opts o;
    qdb_plot_opts_init(&o);
    char out[256], path[512];
    for (int L = 0; L < q->n_layers; L++) {
        if (qdb_fig_act_hist(gp, "rel", q, L, &o, out, sizeof out, &e) != QDB_OK)
            fail_msg("%s", e.msg);
        snprintf(path, sizeof path, "rel/%s", out);
        assert_int_equal(access(path, R_OK), 0);
    }
    qdb_gnuplot_close(gp);
    assert_int_equal(chdir(cwd), 0);
    drop(q, g, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_data_and_threshold_lines),
        cmocka_unit_test(test_png_has_the_size_asked),
        cmocka_unit_test(test_svg_parses_and_shows_the_labels),
        cmocka_unit_test(test_pdf_header),
        cmocka_unit_test(test_hostile_layer_names),
        cmocka_unit_test(test_gnuplot_missing),
        cmocka_unit_test(test_failing_script_is_reported_and_gnuplot_goes_on),
        cmocka_unit_test(test_output_directory),
        cmocka_unit_test(test_ranked_charts_and_history),
        cmocka_unit_test(test_report_pages),
        cmocka_unit_test(test_relative_directory),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
