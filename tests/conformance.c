/* conformance.c - runs ONNX's operator conformance data (Debian package
 * libonnx-testdata) through qdb: every case whose operators qdb supports must
 * match the reference outputs within rtol 1e-4 / atol 1e-5.
 *
 *   conformance [--filter SUBSTR] [-v] [--quiet-skips] DIR...
 *
 * DIR is the data root (holding node/, pytorch-converted/, ...) or any
 * directory of cases. Each case runs in a child process, so a crash is
 * reported as that case's failure and the run goes on. Exit status is 1 when
 * any supported case fails. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"
#include "onnx_import.h"

#define RTOL 1e-4
#define ATOL 1e-5
#define MAX_IO 64

enum { R_PASS = 0, R_FAIL = 1, R_SKIP = 2 };

/* Cases whose reference outputs contradict their own model, checked by hand.
 * They still run; a mismatch is reported as an erratum, not a failure. */
static const struct {
    const char *name; /* the case's directory */
    const char *why;
} errata[] = {
#define WINDOW_PI "reference computed with pi = 3.1415, while the model's Tau constant is " \
                  "6.2831855 (2*pi in float32); qdb follows the model"
    {"test_blackmanwindow_expanded", WINDOW_PI},
    {"test_blackmanwindow_symmetric_expanded", WINDOW_PI},
    {"test_hammingwindow_expanded", WINDOW_PI},
    {"test_hammingwindow_symmetric_expanded", WINDOW_PI},
    {"test_hannwindow_expanded", WINDOW_PI},
    {"test_hannwindow_symmetric_expanded", WINDOW_PI},
};

static const char *erratum(const char *label)
{
    const char *name = strrchr(label, '/') ? strrchr(label, '/') + 1 : label;
    for (size_t i = 0; i < sizeof errata / sizeof errata[0]; i++)
        if (strcmp(name, errata[i].name) == 0)
            return errata[i].why;
    return NULL;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of `dir` (no dot files); caller frees. */
static char **list_dir(const char *dir, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (names)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Compare one output; writes a reason on mismatch. */
static int compare(const qdb_tensor *got, const qdb_tensor *want, char *why, size_t n)
{
    if (!qdb_shape_eq(&got->shape, &want->shape)) {
        char a[128], b[128];
        snprintf(why, n, "shape %s, expected %s", qdb_shape_str(&got->shape, a, sizeof a),
                 qdb_shape_str(&want->shape, b, sizeof b));
        return 0;
    }
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t k = 0; k < got->numel; k++) {
        double g = got->dtype == QDB_F32 ? got->data.f[k] : (double)got->data.i[k];
        double w = want->dtype == QDB_F32 ? want->data.f[k] : (double)want->data.i[k];
        if (isnan(w) && isnan(g))
            continue;
        if (isinf(w) && g == w)
            continue;
        double err = fabs(g - w);
        if (!(err <= ATOL + RTOL * fabs(w))) {
            if (!bad)
                first = k;
            bad++;
            if (err > worst || isnan(err))
                worst = err;
        }
    }
    if (bad) {
        double g = got->dtype == QDB_F32 ? got->data.f[first] : (double)got->data.i[first];
        double w = want->dtype == QDB_F32 ? want->data.f[first] : (double)want->data.i[first];
        snprintf(why, n, "%zu of %zu values differ (first at %zu: %g, expected %g; max error %g)",
                 bad, got->numel, first, g, w, worst);
        return 0;
    }
    return 1;
}

/* Run one case in this process; writes the verdict's reason into why. */
static int run_case(const char *dir, char *why, size_t wn)
{
    char path[4096];
    qdb_err e = {0};
    int result = R_FAIL;
    qdb_graph *g = NULL;
    qdb_exec *x = NULL;
    qdb_tensor *in[MAX_IO] = {0}, *out[MAX_IO] = {0}, *want[MAX_IO] = {0};
    int n_sets = 0;
    char **sets = NULL;

    snprintf(path, sizeof path, "%s/model.onnx", dir);
    g = qdb_onnx_load(path, NULL, &e);
    if (!g) {
        snprintf(why, wn, "%s", e.msg);
        result = e.code == QDB_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
        goto out;
    }
    if (g->n_inputs > MAX_IO || g->n_outputs > MAX_IO) {
        snprintf(why, wn, "too many inputs or outputs");
        result = R_SKIP;
        goto out;
    }
    x = qdb_exec_new(g, &e);
    if (!x) {
        snprintf(why, wn, "%s", e.msg);
        goto out;
    }
    sets = list_dir(dir, &n_sets);
    int ran = 0;
    for (int s = 0; s < n_sets; s++) {
        if (strncmp(sets[s], "test_data_set_", 14) != 0)
            continue;
        for (int k = 0; k < g->n_inputs; k++) {
            snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, sets[s], k);
            in[k] = qdb_onnx_load_tensor(path, NULL, &e);
            if (!in[k]) {
                snprintf(why, wn, "%s", e.msg);
                result = e.code == QDB_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
                goto out;
            }
        }
        qdb_status st = qdb_exec_run(x, (const qdb_tensor *const *)in, out, &e);
        if (st != QDB_OK) {
            snprintf(why, wn, "%s: %s", sets[s], e.msg);
            result = st == QDB_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
            goto out;
        }
        for (int k = 0; k < g->n_outputs; k++) {
            snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, sets[s], k);
            want[k] = qdb_onnx_load_tensor(path, NULL, &e);
            if (!want[k]) {
                snprintf(why, wn, "%s", e.msg);
                result = e.code == QDB_ERR_UNSUPPORTED ? R_SKIP : R_FAIL;
                goto out;
            }
            char reason[512];
            if (!compare(out[k], want[k], reason, sizeof reason)) {
                snprintf(why, wn, "%s output %d ('%s'): %s", sets[s], k,
                         g->values[g->outputs[k]].name, reason);
                goto out;
            }
        }
        for (int k = 0; k < MAX_IO; k++) {
            qdb_tensor_free(in[k]);
            qdb_tensor_free(out[k]);
            qdb_tensor_free(want[k]);
            in[k] = out[k] = want[k] = NULL;
        }
        ran++;
    }
    if (!ran) {
        snprintf(why, wn, "no test data sets");
        goto out;
    }
    result = R_PASS;
out:
    for (int k = 0; k < MAX_IO; k++) {
        qdb_tensor_free(in[k]);
        qdb_tensor_free(out[k]);
        qdb_tensor_free(want[k]);
    }
    free_list(sets, n_sets);
    qdb_exec_free(x);
    qdb_graph_free(g);
    return result;
}

/* Run a case in a child; a crash or a hang is a failure of that case. */
static int run_isolated(const char *dir, char *why, size_t wn)
{
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(why, wn, "pipe: %s", strerror(errno));
        return R_FAIL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, wn, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return R_FAIL;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(120);
        char msg[2048] = "";
        int r = run_case(dir, msg, sizeof msg);
        size_t len = strlen(msg);
        if (write(fd[1], msg, len) != (ssize_t)len)
            r = R_FAIL;
        close(fd[1]);
        _exit(r);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t got;
    while (len + 1 < wn && (got = read(fd[0], why + len, wn - 1 - len)) > 0)
        len += (size_t)got;
    why[len] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        snprintf(why, wn, "crashed with signal %d (%s)", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? "timeout" : strsignal(WTERMSIG(status)));
        return R_FAIL;
    }
    int r = WIFEXITED(status) ? WEXITSTATUS(status) : R_FAIL;
    return r > R_SKIP ? R_FAIL : r;
}

typedef struct tally {
    int pass, fail, skip, errata;
    char **skipped; /* "suite/case: reason" */
    int n_skipped, cap_skipped;
} tally;

static void note_skip(tally *t, const char *name, const char *why)
{
    if (t->n_skipped == t->cap_skipped) {
        t->cap_skipped = t->cap_skipped ? 2 * t->cap_skipped : 256;
        char **ns = realloc(t->skipped, (size_t)t->cap_skipped * sizeof *ns);
        if (!ns)
            return;
        t->skipped = ns;
    }
    size_t n = strlen(name) + strlen(why) + 3;
    char *s = malloc(n);
    if (!s)
        return;
    snprintf(s, n, "%s: %s", name, why);
    t->skipped[t->n_skipped++] = s;
}

static void run_dir(const char *root, const char *label, const char *filter, int verbose,
                    tally *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", root);
    if (is_file(path)) {
        if (filter && !strstr(label, filter))
            return;
        char why[2048] = "";
        int r = run_isolated(root, why, sizeof why);
        if (r == R_PASS) {
            t->pass++;
            if (verbose)
                printf("PASS %s\n", label);
        } else if (r == R_SKIP) {
            t->skip++;
            note_skip(t, label, why);
            if (verbose)
                printf("SKIP %s: %s\n", label, why);
        } else if (erratum(label)) {
            t->errata++;
            printf("ERRATUM %s: %s (%s)\n", label, erratum(label), why);
        } else {
            t->fail++;
            printf("FAIL %s: %s\n", label, why);
        }
        fflush(stdout);
        return;
    }
    int n;
    char **names = list_dir(root, &n);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        if (!is_dir(path))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s%s%s", label, label[0] ? "/" : "", names[i]);
        run_dir(path, sub, filter, verbose, t);
    }
    free_list(names, n);
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int verbose = 0, quiet_skips = 0, n_dirs = 0;
    const char *dirs[16];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc)
            filter = argv[++i];
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "--quiet-skips"))
            quiet_skips = 1;
        else if (argv[i][0] != '-' && n_dirs < 16)
            dirs[n_dirs++] = argv[i];
        else {
            fprintf(stderr, "usage: %s [--filter SUBSTR] [-v] [--quiet-skips] DIR...\n", argv[0]);
            return 2;
        }
    }
    if (!n_dirs) {
        fprintf(stderr, "usage: %s [--filter SUBSTR] [-v] [--quiet-skips] DIR...\n", argv[0]);
        return 2;
    }
    tally t = {0};
    for (int i = 0; i < n_dirs; i++) {
        if (!is_dir(dirs[i])) {
            fprintf(stderr, "conformance: %s: no such directory (install libonnx-testdata: make deps)\n",
                    dirs[i]);
            return 2;
        }
        run_dir(dirs[i], "", filter, verbose, &t);
    }
    if (!quiet_skips && !verbose && t.n_skipped) {
        printf("Skipped as unsupported (%d):\n", t.n_skipped);
        for (int i = 0; i < t.n_skipped; i++)
            printf("  SKIP %s\n", t.skipped[i]);
    }
    for (int i = 0; i < t.n_skipped; i++)
        free(t.skipped[i]);
    free(t.skipped);
    printf("ONNX conformance: %d cases: %d passed, %d failed, %d skipped as unsupported, "
           "%d with faulty reference data\n",
           t.pass + t.fail + t.skip + t.errata, t.pass, t.fail, t.skip, t.errata);
    return t.fail ? 1 : 0;
}
