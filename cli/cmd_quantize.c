/* cmd_quantize.c - `qdb quantize MODEL [data flags] [--set key=value ...]
 * [--report FILE]`: the whole post-training quantization pipeline on the
 * command line. Prints the float and quantized accuracy, the delta, and
 * the per-layer table (bits, thresholds, error method, SQNR, clipping) with
 * the worst layers marked; writes the same as JSON with --report. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_file.h"
#include "commands.h"
#include "eval.h"
#include "progress.h"
#include "qmodel.h"
#include "rule_eval.h"
#include "qsetup.h"
#include "ruleset.h"

#define QUANTIZE_USAGE                                                                     \
    "usage: qdb quantize MODEL.onnx [data flags] [--set key=value ...] [--report FILE]\n"   \
    "                    [--rule RULE ...] [--rules FILE] [--measure-n N] [--batch B]\n"    \
    "                    [--threads T] [--no-eval]\n"                                       \
    "  --rule RULE       a network-editor rule, e.g. \"type=Sigmoid : act_bits=16\"\n"       \
    "  --rules FILE      rules from a file, one per line ('#' comments)\n"                  \
    "  --set key=value   any quantization parameter (--help-config lists them)\n"     \
    "  --report FILE     write the results as JSON\n"                                        \
    "  --measure-n N     samples of the representative set for the per-layer error figures\n" \
    "                    (default 256; 0 = all)\n"                                           \
    "  --no-eval         skip the accuracy runs (thresholds and error figures only)\n"       \
    "  calibration uses a seeded random subset of 1024 samples unless --calib-n says otherwise\n"

#define WORST_MARKED 3

static void print_config_help(void)
{
    fprintf(stderr, "quantization parameters (--set key=value):\n");
    qdb_quant_config c;
    qdb_quant_config_init(&c);
    for (int i = 0; i < qdb_config_key_count(); i++) {
        const qdb_config_key *k = qdb_config_key_at(i);
        char v[64];
        qdb_quant_config_get(&c, k, v, sizeof v);
        fprintf(stderr, "  %-40s %-18s %s\n", k->name, v, k->help);
    }
}

static void fmt_db(char *b, size_t n, double v)
{
    if (isinf(v) && v > 0)
        snprintf(b, n, "exact");
    else if (isnan(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.1f", v);
}

static void fmt_thr(char *b, size_t n, const qdb_qlayer *l)
{
    if (!l->act_active) {
        snprintf(b, n, "float");
        return;
    }
    if (l->act_qp.method == QDB_QM_UNIFORM)
        snprintf(b, n, "[%.4g,%.4g]", l->act_qp.min, l->act_qp.max);
    else
        snprintf(b, n, "%s%.4g", l->act_signed ? "+-" : "0..", l->act_qp.threshold);
}

/* The rules (1-based, as listed) that set something on layer l: "1,3". */
static void rules_of(const qdb_qlayer *l, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t at = 0;
    int last = -1;
    for (;;) {
        int next = -1; /* smallest rule index above last */
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

/* Indices of the layers with the lowest own SQNR. */
static void worst_layers(const qdb_qmodel *q, int *worst, int k)
{
    for (int j = 0; j < k; j++)
        worst[j] = -1;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *l = &q->layers[i];
        if (!l->m.valid || isinf(l->m.sqnr_own_db))
            continue;
        for (int j = 0; j < k; j++) {
            if (worst[j] < 0 || l->m.sqnr_own_db < q->layers[worst[j]].m.sqnr_own_db) {
                for (int s = k - 1; s > j; s--)
                    worst[s] = worst[s - 1];
                worst[j] = i;
                break;
            }
        }
    }
}

static int is_worst(const int *worst, int k, int i)
{
    for (int j = 0; j < k; j++)
        if (worst[j] == i)
            return 1;
    return 0;
}

static void print_table(const qdb_qmodel *q)
{
    int worst[WORST_MARKED];
    worst_layers(q, worst, WORST_MARKED);
    printf("\n  %3s  %-36s %-17s %4s %-14s %4s %-10s %7s %7s %7s  %s\n", "#", "layer", "op",
           "act", "threshold", "w", "error", "own", "acc", "clip %", "rules");
    int pos = 0;
    for (int i = 0; i < q->n_layers; i++) {
        const qdb_qlayer *l = &q->layers[i];
        char thr[64], s1[16], s2[16], wb[16], clip[16], bits[16], idx[16], rl[64];
        rules_of(l, rl, sizeof rl);
        /* positions count the model's own layers (as index filters do) */
        if (l->shift_of >= 0)
            idx[0] = '\0';
        else
            snprintf(idx, sizeof idx, "%d", pos++);
        fmt_thr(thr, sizeof thr, l);
        fmt_db(s1, sizeof s1, l->m.valid ? l->m.sqnr_db : NAN);
        fmt_db(s2, sizeof s2, l->m.valid ? l->m.sqnr_own_db : NAN);
        if (l->w_value >= 0 && l->wcfg.enabled)
            snprintf(wb, sizeof wb, "%d", l->wcfg.n_bits);
        else
            snprintf(wb, sizeof wb, "-");
        if (l->act_active)
            snprintf(bits, sizeof bits, "%d", l->act_qp.n_bits);
        else
            snprintf(bits, sizeof bits, "-");
        if (l->m.valid && l->act_active)
            snprintf(clip, sizeof clip, "%.3f", 100.0 * l->m.clipped_fraction);
        else
            snprintf(clip, sizeof clip, "-");
        const char *name = l->name;
        size_t len = strlen(name);
        char nb[40];
        if (len > 36)
            snprintf(nb, sizeof nb, "...%s", name + len - 33);
        else
            snprintf(nb, sizeof nb, "%s", name);
        printf("%c %3s  %-36s %-17.17s %4s %-14s %4s %-10s %7s %7s %7s  %s\n",
               is_worst(worst, WORST_MARKED, i) ? '!' : ' ', idx, nb, l->op, bits, thr, wb,
               l->act_active ? qdb_error_method_name(l->act.error_method) : "-", s2, s1, clip, rl);
    }
    printf("\n  SQNR in dB on the representative set: own (the layer alone, float input) and acc\n"
           "  (accumulated: the whole quantized network up to the layer); '!' marks the %d layers\n"
           "  with the lowest own SQNR, as the TUI does; rules: the rules that set something on\n"
           "  the layer.\n",
           WORST_MARKED);
}

/* The rules with the layers each selects and, after evaluation, what each
 * is worth: the score without it and its own contribution. */
static void print_rules(const qdb_ruleset *rs, const qdb_rule_eval *re, int no_eval)
{
    if (!rs->n)
        return;
    printf("\n  %3s  %-50s %6s %12s %13s\n", "#", "rule", "layers", no_eval ? "" : "without it",
           no_eval ? "" : "contribution");
    for (int i = 0; i < rs->n; i++) {
        char *t = qdb_rule_format(rs->rules[i]);
        char w[32] = "", c[32] = "";
        if (!no_eval && !isnan(re->without[i])) {
            snprintf(w, sizeof w, "%.2f %%", 100.0 * re->without[i]);
            snprintf(c, sizeof c, "%+.2f", 100.0 * (re->current - re->without[i]));
        }
        printf("  %3d  %-50s %6d %12s %13s\n", i + 1, t ? t : "?", re->matches ? re->matches[i] : 0,
               w, c);
        free(t);
    }
    if (!no_eval)
        printf("  contribution: points gained with the rule against all the other rules without it"
               "\n  (%d evaluations)\n", re->evaluations);
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *config_json(const qdb_quant_config *c)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < qdb_config_key_count(); i++) {
        const qdb_config_key *k = qdb_config_key_at(i);
        const char *p = (const char *)c + k->offset;
        switch (k->type) {
        case QDB_CK_BOOL:
            cJSON_AddBoolToObject(o, k->name, *(const int *)p);
            break;
        case QDB_CK_INT:
            cJSON_AddNumberToObject(o, k->name, *(const int *)p);
            break;
        case QDB_CK_REAL:
            cJSON_AddItemToObject(o, k->name, num_or_null(*(const double *)p));
            break;
        case QDB_CK_ERROR_METHOD:
            cJSON_AddStringToObject(o, k->name, qdb_error_method_name(*(const qdb_error_method *)p));
            break;
        case QDB_CK_QUANT_METHOD:
            cJSON_AddStringToObject(o, k->name, qdb_quant_method_name(*(const qdb_quant_method *)p));
            break;
        }
    }
    return o;
}

static cJSON *layer_json(const qdb_qmodel *q, const qdb_qlayer *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", l->name);
    cJSON_AddStringToObject(o, "op", l->op);
    cJSON_AddBoolToObject(o, "act_quantized", l->act_active);
    if (l->act_active) {
        cJSON_AddNumberToObject(o, "act_bits", l->act_qp.n_bits);
        cJSON_AddStringToObject(o, "act_method", qdb_quant_method_name(l->act_qp.method));
        cJSON_AddItemToObject(o, "act_threshold", num_or_null(qdb_qparams_threshold(&l->act_qp)));
        if (l->act_qp.method == QDB_QM_UNIFORM) {
            cJSON_AddNumberToObject(o, "act_range_min", l->act_qp.min);
            cJSON_AddNumberToObject(o, "act_range_max", l->act_qp.max);
        }
        cJSON_AddBoolToObject(o, "act_signed", l->act_signed);
        cJSON_AddStringToObject(o, "act_error_method", qdb_error_method_name(l->act.error_method));
        cJSON *by = cJSON_AddObjectToObject(o, "thresholds_by_method");
        for (int m = 0; m < QDB_EM_COUNT; m++)
            cJSON_AddItemToObject(by, qdb_error_method_name(m), num_or_null(l->thr_by_method[m]));
    } else {
        cJSON_AddNullToObject(o, "act_bits");
        cJSON_AddNullToObject(o, "act_threshold");
    }
    if (l->hist) {
        cJSON_AddNumberToObject(o, "min", l->hist->min);
        cJSON_AddNumberToObject(o, "max", l->hist->max);
    }
    if (l->w_value >= 0 && l->wcfg.enabled && l->n_w_qp) {
        cJSON_AddNumberToObject(o, "weight_bits", l->wcfg.n_bits);
        cJSON_AddStringToObject(o, "weight_method", qdb_quant_method_name(l->wcfg.method));
        cJSON_AddStringToObject(o, "weight_error_method",
                                qdb_error_method_name(l->wcfg.error_method));
        cJSON_AddBoolToObject(o, "weight_per_channel", l->wcfg.per_channel);
        cJSON *th = cJSON_AddArrayToObject(o, "weight_thresholds");
        for (int c = 0; c < l->n_w_qp; c++)
            cJSON_AddItemToArray(th, num_or_null(qdb_qparams_threshold(&l->w_qp[c])));
        cJSON_AddNumberToObject(o, "bias_correction_shift", l->bias_shift_norm);
    } else {
        cJSON_AddNullToObject(o, "weight_bits");
    }
    if (l->snc_applied) {
        cJSON_AddNumberToObject(o, "shift_negative_shift", l->snc_shift);
        cJSON_AddStringToObject(o, "shift_negative_layer", q->layers[l->snc_layer].name);
    }
    if (l->shift_of >= 0)
        cJSON_AddStringToObject(o, "shift_of", q->layers[l->shift_of].name);
    cJSON *sb = cJSON_AddObjectToObject(o, "set_by_rule");
    for (int a = 0; a < QDB_LA_COUNT; a++)
        if (l->prov[a] >= 0)
            cJSON_AddNumberToObject(sb, qdb_layer_attr_name(a), l->prov[a] + 1);
    if (l->m.valid) {
        cJSON_AddItemToObject(o, "sqnr_db", num_or_null(l->m.sqnr_db));
        cJSON_AddItemToObject(o, "sqnr_own_db", num_or_null(l->m.sqnr_own_db));
        cJSON_AddNumberToObject(o, "cosine", l->m.cosine);
        cJSON_AddNumberToObject(o, "cosine_own", l->m.cosine_own);
        cJSON_AddNumberToObject(o, "mse", l->m.mse);
        cJSON_AddNumberToObject(o, "mse_own", l->m.mse_own);
        cJSON_AddNumberToObject(o, "clipped_fraction", l->m.clipped_fraction);
    }
    return o;
}

static int write_report(const char *path, const char *model, const qdb_qmodel *q,
                        const qdb_eval_result *fr, const qdb_eval_result *qr, int64_t agree,
                        const qdb_ruleset *rs, const qdb_rule_eval *re)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *rj = cJSON_AddArrayToObject(o, "rules");
    for (int i = 0; i < rs->n; i++) {
        cJSON *r = qdb_rule_to_json(rs->rules[i]);
        if (!r)
            continue;
        if (re->matches)
            cJSON_AddNumberToObject(r, "layers", re->matches[i]);
        if (fr && re->without) {
            cJSON_AddItemToObject(r, "score_without", num_or_null(re->without[i]));
            cJSON_AddItemToObject(r, "contribution", num_or_null(re->current - re->without[i]));
        }
        cJSON_AddItemToArray(rj, r);
    }
    if (fr && rs->n) {
        qdb_history h;
        qdb_history_init(&h);
        double fs = fr->labelled && fr->n ? (double)fr->top1 / (double)fr->n : 1.0;
        qdb_err e = {0};
        if (qdb_rule_eval_record(re, rs, fs, &h, &e) == QDB_OK)
            cJSON_AddItemToObject(o, "history", qdb_history_to_json(&h));
        qdb_history_clear(&h);
        cJSON_AddItemToObject(o, "baseline_accuracy", num_or_null(re->baseline));
        cJSON_AddItemToObject(o, "delta_to_baseline", num_or_null(re->current - re->baseline));
        cJSON_AddNumberToObject(o, "evaluations", re->evaluations);
    }
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddNumberToObject(o, "calibration_samples", (double)q->calib_samples);
    if (fr && fr->labelled && fr->n) {
        double fa = (double)fr->top1 / (double)fr->n, qa = (double)qr->top1 / (double)qr->n;
        cJSON_AddNumberToObject(o, "eval_samples", (double)fr->n);
        cJSON_AddNumberToObject(o, "float_accuracy", fa);
        cJSON_AddNumberToObject(o, "quant_accuracy", qa);
        cJSON_AddNumberToObject(o, "delta", qa - fa);
        cJSON_AddNumberToObject(o, "float_top5", (double)fr->top5 / (double)fr->n);
        cJSON_AddNumberToObject(o, "quant_top5", (double)qr->top5 / (double)qr->n);
    }
    if (fr && agree >= 0 && fr->n)
        cJSON_AddNumberToObject(o, "agreement_with_float", (double)agree / (double)fr->n);
    cJSON_AddItemToObject(o, "config", config_json(&q->cfg));
    cJSON *p = cJSON_AddObjectToObject(o, "passes");
    cJSON_AddNumberToObject(p, "batchnorm_folded", q->n_bn_folded);
    cJSON_AddNumberToObject(p, "relu_rebound", q->n_relu_rebound);
    cJSON_AddNumberToObject(p, "channels_equalized", q->n_equalized);
    cJSON_AddNumberToObject(p, "shift_negative", q->n_snc);
    cJSON_AddNumberToObject(p, "input_scale", q->input_scale);
    cJSON *ls = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; i < q->n_layers; i++)
        cJSON_AddItemToArray(ls, layer_json(q, &q->layers[i]));
    return cli_write_json(path, o);
}

int cmd_quantize(int argc, char **argv)
{
    qsetup s;
    if (qsetup_init(&s))
        return 1;
    const char *report = NULL;
    long measure_n = 256;
    int no_eval = 0, rc = 2;
    qdb_err e = {0};
    qdb_eval_result fr = {0}, qr = {0};
    qdb_rule_eval re = {0};
    for (int i = 1; i < argc; i++) {
        int r = qsetup_parse(&s, argc, argv, &i);
        if (r < 0)
            goto out;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--report") && i + 1 < argc) {
            report = argv[++i];
        } else if (!strcmp(a, "--measure-n") && i + 1 < argc) {
            if (qsetup_parse_long(a, argv[++i], 0, 1L << 30, &measure_n))
                goto out;
        } else if (!strcmp(a, "--no-eval")) {
            no_eval = 1;
        } else if (!strcmp(a, "--help-config")) {
            print_config_help();
            rc = 0;
            goto out;
        } else {
            cli_error("quantize: unexpected argument '%s'\n%s" DATA_FLAGS_HELP, a, QUANTIZE_USAGE);
            goto out;
        }
    }
    if (!s.model) {
        cli_error("%s", QUANTIZE_USAGE);
        goto out;
    }
    if (report && cli_check_writable(report))
        goto out;
    rc = 1;
    if (qsetup_open(&s, !no_eval, 0))
        goto out;
    const char *model = s.model;
    qdb_qmodel *q = s.q;
    const qdb_quant_config *cfg = &s.cfg;
    const qdb_ruleset *rs = s.rs;
    cli_progress_fn pf = cli_progress_if_tty();
    qdb_run_opts ro = {.batch = (int)s.batch, .progress = pf};
    printf("model      %s\n", model);
    printf("calib      %s (%lld samples, seed %llu)\n", s.cspec, (long long)q->calib_samples,
           (unsigned long long)s.df.seed);
    printf("config     activations %s %s %d bits, weights %s %s %d bits %s\n",
           qdb_quant_method_name(cfg->activation_quantization_method),
           qdb_error_method_name(cfg->activation_error_method), cfg->activation_n_bits,
           qdb_quant_method_name(cfg->weights_quantization_method),
           qdb_error_method_name(cfg->weights_error_method), cfg->weights_n_bits,
           cfg->weights_per_channel_threshold ? "per channel" : "per tensor");
    int64_t agree = -1;
    if (!no_eval) {
        qdb_eval_opts eo = {.batch = (int)s.batch, .progress = pf, .user = "float"};
        if (qdb_eval_run(s.g, s.de, &eo, &fr, &e) != QDB_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
        eo.user = "quantized";
        if (qdb_rules_evaluate(q, rs, s.de, fr.pred, &eo, &re, &e) != QDB_OK) {
            cli_error("%s: %s", model, e.msg);
            goto out;
        }
        qr = re.cur; /* the result with every rule, now ours */
        memset(&re.cur, 0, sizeof re.cur);
        agree = 0;
        for (int64_t i = 0; i < fr.n && i < qr.n; i++)
            agree += fr.pred[i] == qr.pred[i];
    } else {
        /* qsetup_open applied the rules; count what each selects */
        re.matches = calloc((size_t)(rs->n ? rs->n : 1), sizeof *re.matches);
        if (!re.matches || qdb_ruleset_apply(rs, q, re.matches, &e) != QDB_OK ||
            qdb_qmodel_quantize(q, &e) != QDB_OK) {
            cli_error("%s: %s", model, re.matches ? e.msg : "out of memory");
            goto out;
        }
        re.n_rules = rs->n;
    }
    for (int i = 0; i < rs->n; i++)
        if (rs->rules[i]->enabled && re.matches[i] == 0) {
            char *t = qdb_rule_format(rs->rules[i]);
            const char *hint = qdb_rule_hint(rs->rules[i], q);
            fprintf(stderr, "qdb: warning: rule %d (%s) matches no layer of %s%s%s\n", i + 1,
                    t ? t : "?", model, hint ? "; " : "", hint ? hint : "");
            free(t);
        }
    ro.user = "measuring";
    if (qdb_dataset_rewind(s.dc, &e) != QDB_OK ||
        qdb_qmodel_measure(q, s.dc, measure_n, &ro, &e) != QDB_OK) {
        cli_error("%s: %s", model, e.msg);
        goto out;
    }
    printf("passes     BatchNorm folded %d, ReLU bound to 2^k %d, channels equalized %d, "
           "shift-negative %d, input scale %.4g\n",
           q->n_bn_folded, q->n_relu_rebound, q->n_equalized, q->n_snc, q->input_scale);
    if (!no_eval) {
        printf("eval       %s (%lld samples)\n", s.espec, (long long)fr.n);
        if (fr.labelled && fr.n) {
            double fa = 100.0 * (double)fr.top1 / (double)fr.n;
            double qa = 100.0 * (double)qr.top1 / (double)qr.n;
            printf("float      %.2f %%\n", fa);
            if (rs->n) {
                printf("baseline   %.2f %%   delta %+.2f points (quantized with no rules)\n",
                       100.0 * re.baseline, 100.0 * re.baseline - fa);
                double db = qa - 100.0 * re.baseline;
                printf("quantized  %.2f %%   delta %+.2f points, %+.2f against the baseline\n", qa,
                       qa - fa, fabs(db) < 0.005 ? 0.0 : db);
            } else {
                printf("quantized  %.2f %%   delta %+.2f points\n", qa, qa - fa);
            }
        }
        printf("agreement  %.2f %% of predictions equal the float model's\n",
               fr.n ? 100.0 * (double)agree / (double)fr.n : 0.0);
    }
    print_rules(rs, &re, no_eval);
    print_table(q);
    if (report && write_report(report, model, q, no_eval ? NULL : &fr, &qr, agree, rs, &re))
        goto out;
    rc = 0;
out:
    qdb_rule_eval_free(&re);
    qdb_eval_result_free(&fr);
    qdb_eval_result_free(&qr);
    qsetup_close(&s);
    return rc;
}
