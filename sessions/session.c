/* session.c - an investigation's state and its (re-)quantization (see
 * session.h). */
#include "session.h"

#include "gnuplot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Adapts the engine's progress callbacks to the session's, naming the
 * phase. */
typedef struct {
    qdb_session_progress fn;
    void *user;
    const char *phase;
} phase_ctx;

static int phase_cb(void *user, int64_t done, int64_t total)
{
    phase_ctx *p = user;
    return p->fn ? p->fn(p->user, p->phase, done, total) : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

qdb_session *qdb_session_new(const char *model, const char *calib_spec, const char *eval_spec,
                             qdb_graph *g, qdb_dataset *dc, qdb_dataset *de,
                             const qdb_quant_config *cfg, qdb_ruleset *rs, int batch, qdb_err *e)
{
    qdb_session *s = calloc(1, sizeof *s);
    if (!s) {
        qdb_graph_free(g);
        qdb_dataset_free(dc);
        qdb_dataset_free(de);
        qdb_ruleset_free(rs);
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->g = g;
    s->dc = dc;
    s->de = de;
    s->rs = rs ? rs : qdb_ruleset_new();
    s->batch = batch > 0 ? batch : 64;
    s->measure_n = 256;
    qdb_history_init(&s->hist);
    s->model = strdup(model);
    s->calib_spec = dup_or_null(calib_spec);
    s->eval_spec = dup_or_null(eval_spec);
    if (!s->model || !s->rs || (calib_spec && !s->calib_spec) || (eval_spec && !s->eval_spec)) {
        qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(s->q = qdb_qmodel_new(g, cfg, e)) || !(s->cache = qdb_eval_cache_new(0, e)))
        goto fail;
    return s;
fail:
    qdb_session_free(s);
    return NULL;
}

void qdb_session_free(qdb_session *s)
{
    if (!s)
        return;
    qdb_gnuplot_close(s->gp);
    qdb_eval_cache_free(s->cache);
    qdb_qmodel_free(s->q);
    qdb_ruleset_free(s->rs);
    qdb_dataset_free(s->dc);
    qdb_dataset_free(s->de);
    qdb_graph_free(s->g);
    qdb_eval_result_free(&s->fr);
    qdb_history_clear(&s->hist);
    qdb_session_undo_clear(s);
    for (int i = 0; i < QDB_MEASURE_MEMO; i++)
        free(s->mmemo[i].m);
    if (s->have_sens)
        qdb_sensitivity_free(&s->sens);
    free(s->sens_rank);
    if (s->have_bisect)
        qdb_bisect_free(&s->bis);
    free(s->bis_rule);
    free(s->matches);
    free(s->contrib);
    free(s->model);
    free(s->calib_spec);
    free(s->save_path);
    qdb_session_ui_free(&s->ui);
    for (int i = 0; i < s->n_origin; i++)
        free(s->origin[i]);
    free(s->origin);
    free(s->eval_spec);
    free(s);
}

/* The float model's own score: top-1 on a labelled set; on an unlabelled
 * one scores are agreement with the float model's predictions, 1 here. */
static double score_of(const qdb_eval_result *r)
{
    if (!r->labelled)
        return 1.0;
    return r->n ? (double)r->top1 / (double)r->n : 0.0;
}

/* The figures of a network measured before (same signature, same sample
 * count) into its layers: 1, or 0 when not remembered. */
static int measure_recall(qdb_session *s, uint64_t sig)
{
    for (int i = 0; i < QDB_MEASURE_MEMO; i++) {
        const struct qdb_measure_memo *k = &s->mmemo[i];
        if (!k->m || k->sig != sig || k->measure_n != s->measure_n || k->n_layers != s->q->n_layers)
            continue;
        for (int L = 0; L < k->n_layers; L++)
            s->q->layers[L].m = k->m[L];
        return 1;
    }
    return 0;
}

/* Remember the figures just measured (the oldest entry goes; without
 * memory, nothing is remembered). */
static void measure_keep(qdb_session *s, uint64_t sig)
{
    struct qdb_measure_memo *k = &s->mmemo[s->mmemo_next];
    qdb_layer_metrics *m = malloc((size_t)(s->q->n_layers ? s->q->n_layers : 1) * sizeof *m);
    if (!m)
        return;
    free(k->m);
    for (int L = 0; L < s->q->n_layers; L++)
        m[L] = s->q->layers[L].m;
    k->m = m;
    k->sig = sig;
    k->measure_n = s->measure_n;
    k->n_layers = s->q->n_layers;
    s->mmemo_next = (s->mmemo_next + 1) % QDB_MEASURE_MEMO;
}

qdb_status qdb_session_requant(qdb_session *s, qdb_session_progress progress, void *user,
                               qdb_err *e)
{
    if (!s->q->calibrated)
        return qdb_err_set(e, QDB_ERR_INVALID, "the session is not prepared yet");
    double t0 = now_s();
    phase_ctx pc = {progress, user, "quantized"};
    qdb_eval_opts eo = {.batch = s->batch, .progress = phase_cb, .user = &pc};
    qdb_rule_eval re;
    memset(&re, 0, sizeof re);
    qdb_status st = qdb_rules_evaluate_cached(s->q, s->rs, s->de, s->fr.labelled ? NULL : s->fr.pred,
                                              &eo, s->cache, s->baseline_known ? s->baseline : NAN,
                                              &re, e);
    if (st != QDB_OK)
        goto fail;
    pc.phase = "measuring";
    qdb_run_opts ro = {.batch = s->batch, .progress = phase_cb, .user = &pc};
    const uint64_t sig = qdb_qmodel_signature(s->q);
    if (!measure_recall(s, sig)) {
        if ((st = qdb_dataset_rewind(s->dc, e)) != QDB_OK ||
            (st = qdb_qmodel_measure(s->q, s->dc, s->measure_n, &ro, e)) != QDB_OK)
            goto fail;
        s->n_measured++;
        measure_keep(s, sig);
    }
    /* success: the figures advance */
    int n = s->rs->n;
    int *matches = calloc((size_t)(n ? n : 1), sizeof *matches);
    double *contrib = calloc((size_t)(n ? n : 1), sizeof *contrib);
    if (!matches || !contrib) {
        free(matches);
        free(contrib);
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        matches[i] = re.matches ? re.matches[i] : 0;
        contrib[i] = s->rs->rules[i]->enabled && re.without ? re.current - re.without[i] : NAN;
    }
    /* one history entry per re-quantization: the rules in force, the score
     * (a resumed session's first one repeats the saved history's last) */
    int quiet = (s->resumed && !s->ready) || s->quiet_requant;
    s->quiet_requant = 0;
    if (!quiet &&
        (st = qdb_history_add(&s->hist,
                              !s->ready ? "start" : s->requant_label[0] ? s->requant_label : "requant",
                              s->rs, -1, re.current,
                              s->float_score, e)) != QDB_OK) {
        free(matches);
        free(contrib);
        goto fail;
    }
    free(s->matches);
    free(s->contrib);
    s->matches = matches;
    s->contrib = contrib;
    s->n_rules = n;
    s->baseline = re.baseline;
    s->current = re.current;
    s->evaluations = re.evaluations;
    s->seconds = now_s() - t0;
    s->baseline_known = 1;
    s->ready = 1;
    s->generation++;
    qdb_rule_eval_free(&re);
    return QDB_OK;
fail:
    qdb_rule_eval_free(&re);
    return st;
}

qdb_status qdb_session_prepare(qdb_session *s, qdb_session_progress progress, void *user,
                               qdb_err *e)
{
    phase_ctx pc = {progress, user, "calibrating"};
    qdb_run_opts ro = {.batch = s->batch, .progress = phase_cb, .user = &pc};
    qdb_status st;
    if (!s->q->calibrated) {
        if ((st = qdb_dataset_rewind(s->dc, e)) != QDB_OK ||
            (st = qdb_qmodel_calibrate(s->q, s->dc, &ro, e)) != QDB_OK)
            return st;
        s->calibrations++;
    }
    if ((st = qdb_ruleset_apply(s->rs, s->q, NULL, e)) != QDB_OK ||
        (st = qdb_qmodel_quantize(s->q, e)) != QDB_OK)
        return st;
    if (!s->fr.pred) {
        pc.phase = "float";
        qdb_eval_opts eo = {.batch = s->batch, .progress = phase_cb, .user = &pc};
        qdb_eval_result fr;
        if ((st = qdb_dataset_rewind(s->de, e)) != QDB_OK ||
            (st = qdb_eval_run(s->g, s->de, &eo, &fr, e)) != QDB_OK)
            return st;
        s->fr = fr;
        s->float_score = score_of(&fr);
    }
    return qdb_session_requant(s, progress, user, e);
}

qdb_status qdb_session_restore(qdb_session *s, qdb_ruleset *rs, const qdb_quant_config *cfg,
                               qdb_err *e)
{
    if (rs) {
        qdb_ruleset_free(s->rs);
        s->rs = rs;
    }
    if (cfg)
        s->q->cfg = *cfg;
    /* the state is what it was before the failed change: no new generation */
    qdb_status st = qdb_ruleset_apply(s->rs, s->q, NULL, e);
    if (st == QDB_OK)
        st = qdb_qmodel_quantize(s->q, e);
    return st;
}

void qdb_session_undo_clear(qdb_session *s)
{
    for (int i = 0; i < s->n_undo; i++)
        qdb_ruleset_free(s->undo[i].rs);
    free(s->undo);
    s->undo = NULL;
    s->n_undo = 0;
}

int qdb_session_find_layer(const qdb_session *s, const char *name)
{
    for (int i = 0; i < s->q->n_layers; i++)
        if (!strcmp(s->q->layers[i].name, name))
            return i;
    return -1;
}

int qdb_session_layer_of_own(const qdb_session *s, int i)
{
    const qdb_qlayer *l = qdb_qmodel_own_layer(s->q, i);
    return l ? (int)(l - s->q->layers) : -1;
}

/* The own layers (those rules and searches count). */
static int own_layers(const qdb_session *s)
{
    int n = 0;
    for (int L = 0; L < s->q->n_layers; L++)
        n += s->q->layers[L].shift_of < 0;
    return n;
}

/* The per-layer figures again: a sweep or a bisection leaves the model
 * quantized as configured but without them. */
static qdb_status remeasure(qdb_session *s, qdb_session_progress progress, void *user, qdb_err *e)
{
    phase_ctx pc = {progress, user, "measuring"};
    qdb_run_opts ro = {.batch = s->batch, .progress = phase_cb, .user = &pc};
    qdb_status st = qdb_dataset_rewind(s->dc, e);
    return st == QDB_OK ? qdb_qmodel_measure(s->q, s->dc, s->measure_n, &ro, e) : st;
}

/* What a sweep or a bisection starts with: the probe on the first n
 * evaluation samples, and a buffer of one entry per own layer. */
static qdb_status probe_setup(qdb_session *s, int64_t n, qdb_probe **p, int **buf, int *nl,
                              qdb_err *e)
{
    *p = NULL;
    *buf = NULL;
    if (!s->ready)
        return qdb_err_set(e, QDB_ERR_INVALID, "the model is not quantized yet");
    qdb_status st = qdb_dataset_rewind(s->de, e);
    if (st != QDB_OK)
        return st;
    if (!(*p = qdb_probe_new(s->g, s->de, n, s->batch, e)))
        return e && e->code ? e->code : QDB_ERR_NOMEM;
    *nl = own_layers(s);
    if (!(*buf = malloc((size_t)(*nl ? *nl : 1) * sizeof **buf))) {
        qdb_probe_free(*p);
        *p = NULL;
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    return QDB_OK;
}

qdb_status qdb_session_sensitivity(qdb_session *s, int64_t n, qdb_session_progress progress,
                                   void *user, qdb_err *e)
{
    phase_ctx pc = {progress, user, "sensitivity"};
    qdb_probe *p;
    int *rank, nl;
    qdb_status st = probe_setup(s, n, &p, &rank, &nl, e);
    if (st != QDB_OK)
        return st;
    qdb_sensitivity r;
    memset(&r, 0, sizeof r);
    st = qdb_sensitivity_run(s->q, p, phase_cb, &pc, &r, e);
    if (st == QDB_OK)
        st = remeasure(s, progress, user, e);
    if (st == QDB_OK) {
        qdb_sensitivity_rank(&r, rank);
        if (s->have_sens)
            qdb_sensitivity_free(&s->sens);
        free(s->sens_rank);
        s->sens = r;
        s->sens_rank = rank;
        s->have_sens = 1;
        s->sens_n = qdb_probe_count(p);
        s->generation++;
    } else {
        qdb_sensitivity_free(&r);
        free(rank);
    }
    qdb_probe_free(p);
    return st;
}

qdb_status qdb_session_bisect(qdb_session *s, int64_t n, double tolerance, qdb_raise_mode raise,
                              qdb_session_progress progress, void *user, qdb_err *e)
{
    phase_ctx pc = {progress, user, "bisect"};
    qdb_probe *p;
    int *order, nl;
    qdb_status st = probe_setup(s, n, &p, &order, &nl, e);
    if (st != QDB_OK)
        return st;
    /* the order ddmin groups layers in: sensitivity, else own SQNR */
    if (s->have_sens && s->sens.n == nl) {
        memcpy(order, s->sens_rank, (size_t)nl * sizeof *order);
    } else {
        for (int i = 0; i < nl; i++)
            order[i] = i;
        for (int i = 1; i < nl; i++) /* insertion sort: stable */
            for (int j = i; j > 0; j--) {
                const qdb_qlayer *a = qdb_qmodel_own_layer(s->q, order[j]);
                const qdb_qlayer *b = qdb_qmodel_own_layer(s->q, order[j - 1]);
                double sa = a->m.valid ? a->m.sqnr_own_db : INFINITY;
                double sb = b->m.valid ? b->m.sqnr_own_db : INFINITY;
                if (!(sa < sb))
                    break;
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    }
    qdb_bisect_opts bo = {.tolerance = tolerance, .raise = raise, .mode = QDB_BISECT_DDMIN,
                          .ranking = order, .progress = phase_cb, .user = &pc};
    qdb_bisect b;
    memset(&b, 0, sizeof b);
    st = qdb_bisect_run(s->q, p, &bo, &b, e);
    if (st == QDB_OK)
        st = remeasure(s, progress, user, e);
    char *rule = NULL;
    if (st == QDB_OK && b.n_culprits && !(rule = qdb_bisect_rule(s->q, &b, raise)))
        st = qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    if (st == QDB_OK) {
        if (s->have_bisect)
            qdb_bisect_free(&s->bis);
        free(s->bis_rule);
        s->bis = b;
        s->bis_rule = rule;
        s->bis_raise = raise;
        s->have_bisect = 1;
        s->bis_n = qdb_probe_count(p);
        s->generation++;
    } else {
        qdb_bisect_free(&b);
    }
    free(order);
    qdb_probe_free(p);
    return st;
}

qdb_status qdb_session_set_origin(qdb_session *s, int n, char *const *flags, qdb_err *e)
{
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v)
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        if (!(v[i] = strdup(flags[i]))) {
            for (int k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
        }
    for (int i = 0; i < s->n_origin; i++)
        free(s->origin[i]);
    free(s->origin);
    s->origin = v;
    s->n_origin = n;
    return QDB_OK;
}
