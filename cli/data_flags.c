/* data_flags.c - parsing of the shared data options (see data_flags.h). */
#include "data_flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

void data_flags_init(data_flags *f)
{
    memset(f, 0, sizeof *f);
}

static int parse_count(const char *flag, const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || end == v || n < 1) {
        cli_error("%s: expected a positive count, got '%s'", flag, v);
        return -1;
    }
    *out = n;
    return 1;
}

static int parse_floats(const char *flag, const char *v, float *out, int *n, int positive)
{
    *n = 0;
    const char *p = v;
    for (;;) {
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        if (errno || end == p || (*end && *end != ',') || *n == QDB_DATASET_MAX_CHANNELS ||
            (positive && !(x > 0))) {
            cli_error("%s: expected %s1 to %d comma-separated numbers, got '%s'", flag,
                      positive ? "positive " : "", QDB_DATASET_MAX_CHANNELS, v);
            return -1;
        }
        out[(*n)++] = x;
        if (!*end)
            return 1;
        p = end + 1;
    }
}

int data_flags_parse(data_flags *f, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--bgr")) {
        f->bgr = 1;
        return 1;
    }
    static const char *const with_value[] = {"--calib", "--eval", "--calib-n", "--eval-n",
                                             "--seed", "--scale", "--mean", "--std"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        known |= strcmp(a, with_value[k]) == 0;
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        cli_error("%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (!strcmp(a, "--calib"))
        f->calib = v;
    else if (!strcmp(a, "--eval"))
        f->eval = v;
    else if (!strcmp(a, "--calib-n"))
        return parse_count(a, v, &f->calib_n);
    else if (!strcmp(a, "--eval-n"))
        return parse_count(a, v, &f->eval_n);
    else if (!strcmp(a, "--seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || *end || end == v || v[0] == '-') {
            cli_error("--seed: expected a non-negative integer, got '%s'", v);
            return -1;
        }
        f->seed = s;
    } else if (!strcmp(a, "--scale")) {
        int n;
        if (parse_floats(a, v, &f->scale, &n, 1) < 0 || n != 1) {
            if (n > 1)
                cli_error("--scale: expected one positive number, got '%s'", v);
            return -1;
        }
        f->have_scale = 1;
    } else if (!strcmp(a, "--mean"))
        return parse_floats(a, v, f->mean, &f->n_mean, 0);
    else if (!strcmp(a, "--std"))
        return parse_floats(a, v, f->std, &f->n_std, 1);
    return 1;
}

void data_flags_opts(const data_flags *f, const qdb_profile *p, int eval, qdb_dataset_opts *o)
{
    qdb_dataset_opts_init(o);
    if (p)
        qdb_profile_apply(p, o);
    if (f->have_scale)
        o->scale = f->scale;
    if (f->n_mean) {
        o->n_mean = f->n_mean;
        memcpy(o->mean, f->mean, sizeof o->mean);
    }
    if (f->n_std) {
        o->n_std = f->n_std;
        memcpy(o->std, f->std, sizeof o->std);
    }
    o->n = eval ? f->eval_n : f->calib_n;
    o->shuffle = !eval && f->calib_n > 0; /* calibration: a seeded random subset */
    o->seed = f->seed;
    o->bgr = f->bgr;
}

void data_flags_fit_model(const qdb_graph *g, qdb_dataset_opts *o)
{
    if (g->n_inputs < 1)
        return;
    const qdb_value *in = &g->values[g->inputs[0]];
    if (in->shape.ndim != 4)
        return;
    o->channels = (int)in->shape.d[1];
    o->height = in->shape.d[2];
    o->width = in->shape.d[3];
}
