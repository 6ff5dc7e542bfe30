/* test_script.c - batch mode (sessions/script.h): a file of commands run
 * against a session. The expected output of every script is what
 * qdb_cmd_run gives for the same lines, one by one, on a twin session (same
 * graph and data, tests/support/session_fixture.h); the wall time in the
 * re-quantizing commands' text ("in 0.01 s") is blanked out on both sides.
 *
 *   - comments and blank lines (also indented, also the last line without
 *     a newline) are skipped and not counted; results go to `out`;
 *   - a failing command stops the script: counts, its line, its status, the
 *     message "WHAT:LINE: ..." in e and on `err`, and nothing after it ran
 *     (the session's rules); a command cancelled through the progress
 *     callback likewise, with its own status;
 *   - keep_going: everything runs, every failure is counted and written to
 *     `err`, the first one is returned;
 *   - quit stops the script (also with keep_going);
 *   - echo: "> COMMAND" before each command's output, not for comments;
 *   - a line longer than 64 KiB is an error naming the line (one just under
 *     the limit runs);
 *   - CRLF line endings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "rule.h"
#include "script.h"
#include "session.h"
#include "session_fixture.h"
#include "tmpdir.h"

#define WHAT "t.qdb"

/* A prepared session and its prepared twin. */
static void open_pair(sf_fixture *f, sf_fixture *t)
{
    sf_new(f, "head");
    sf_twin(f, t);
    sf_prepare(f, NULL, NULL);
    sf_prepare(t, NULL, NULL);
    /* the twin is the same session */
    assert_true(f->s->float_score == t->s->float_score);
    assert_true(f->s->current == t->s->current);
    assert_true(f->s->baseline == t->s->baseline);
}

static void free_pair(sf_fixture *f, sf_fixture *t)
{
    sf_free(f);
    sf_free(t);
}

/* The text with every "in N.NN s" (wall time) made "in # s". */
static char *untime(const char *text)
{
    size_t n = strlen(text);
    char *u = malloc(n + 1), *o = u;
    assert_non_null(u);
    const char *p = text;
    while (*p) {
        if (!strncmp(p, " in ", 4)) {
            const char *q = p + 4;
            while ((*q >= '0' && *q <= '9') || *q == '.')
                q++;
            if (q > p + 4 && !strncmp(q, " s", 2)) {
                memcpy(o, " in #", 5);
                o += 5;
                p = q;
                continue;
            }
        }
        *o++ = *p++;
    }
    *o = 0;
    return u;
}

static void assert_same_output(const char *got, const char *want)
{
    char *g = untime(got), *w = untime(want);
    if (strcmp(g, w))
        fail_msg("output\n---\n%s---\nwant\n---\n%s---", g, w);
    free(g);
    free(w);
}

/* What a script run left. */
typedef struct {
    qdb_status st;
    qdb_script_result r;
    qdb_err e;
    char *out, *err;
    size_t out_len, err_len;
} run;

/* Run `len` bytes of script text on s (o may be NULL: default options). */
static void run_script_n(qdb_session *s, const char *text, size_t len, const qdb_script_opts *o,
                         run *x)
{
    memset(x, 0, sizeof *x);
    FILE *in = tmpfile();
    assert_non_null(in);
    assert_int_equal(fwrite(text, 1, len, in), len);
    rewind(in);
    FILE *out = open_memstream(&x->out, &x->out_len), *err = open_memstream(&x->err, &x->err_len);
    assert_non_null(out);
    assert_non_null(err);
    qdb_script_opts none = {0};
    /* r and e hold garbage before: the call must set what it reports */
    memset(&x->r, 0x5a, sizeof x->r);
    x->st = qdb_script_run(s, in, WHAT, out, err, o ? o : &none, &x->r, &x->e);
    fclose(out);
    fclose(err);
    fclose(in);
    assert_non_null(x->out);
    assert_non_null(x->err);
}

static void run_script(qdb_session *s, const char *text, const qdb_script_opts *o, run *x)
{
    run_script_n(s, text, strlen(text), o, x);
}

static void run_free(run *x)
{
    free(x->out);
    free(x->err);
}

/* The expected side: lines run one by one through qdb_cmd_run on the twin,
 * every text appended (after "> LINE\n" with echo), every failure's
 * "WHAT:NO: message\n" appended to err. Lines are given without comments
 * and with their script line numbers. */
typedef struct {
    char buf[1 << 14];
    size_t n;
} text;

static void text_add(text *t, const char *s)
{
    size_t k = strlen(s);
    assert_true(t->n + k < sizeof t->buf);
    memcpy(t->buf + t->n, s, k + 1);
    t->n += k;
}

/* Run one line on the twin; its text goes to out (with the echo line when
 * echo), a failure to err. Returns the status; the message in *ce. */
static qdb_status twin_line(sf_fixture *t, int no, const char *line, int echo, text *out, text *err,
                            qdb_err *ce)
{
    memset(ce, 0, sizeof *ce);
    if (echo) {
        text_add(out, "> ");
        text_add(out, line);
        text_add(out, "\n");
    }
    qdb_cmd_result r;
    qdb_status st = qdb_cmd_run(t->s, line, NULL, NULL, &r, ce);
    text_add(out, r.text);
    qdb_cmd_result_free(&r);
    if (st != QDB_OK) {
        char l[1200];
        snprintf(l, sizeof l, "%s:%d: %s\n", WHAT, no, ce->msg);
        text_add(err, l);
    }
    return st;
}

static void expect_rules(const qdb_session *s, int n, const char *const *want)
{
    assert_int_equal(s->rs->n, n);
    for (int i = 0; i < n; i++) {
        char *t = qdb_rule_format(s->rs->rules[i]);
        assert_non_null(t);
        assert_string_equal(t, want[i]);
        free(t);
    }
}

static int starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* ---- 1. comments, blank lines, results ---- */

static void test_results(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    const char *script = "# a script\n"                     /* 1 */
                         "\n"                               /* 2 */
                         "   \t \n"                         /* 3 */
                         "status\n"                         /* 4 */
                         "  # rule all : act_bits=2\n"      /* 5 */
                         "rule name=conv1 : act_bits=16\n"  /* 6 */
                         "\t\n"                             /* 7 */
                         "rules\n"                          /* 8 */
                         "#\n"                              /* 9 */
                         "  bits gap 12  \n"                /* 10 */
                         "layer conv1\n"                    /* 11 */
                         "match type=Conv\n"                /* 12 */
                         "help rule\n"                      /* 13 */
                         "status";                          /* 14, no newline */
    static const int nos[] = {4, 6, 8, 10, 11, 12, 13, 14};
    static const char *const lines[] = {"status",      "rule name=conv1 : act_bits=16",
                                        "rules",       "  bits gap 12  ",
                                        "layer conv1", "match type=Conv",
                                        "help rule",   "status"};
    text out = {0}, err = {0};
    for (int i = 0; i < 8; i++) {
        qdb_err ce;
        if (twin_line(&t, nos[i], lines[i], 0, &out, &err, &ce) != QDB_OK)
            fail_msg("twin: %s", ce.msg);
    }
    assert_int_equal(err.n, 0);

    run x;
    run_script(f.s, script, NULL, &x);
    if (x.st != QDB_OK)
        fail_msg("%s", x.e.msg);
    assert_int_equal(x.r.commands, 8); /* 14 lines, 6 of them comments or blank */
    assert_int_equal(x.r.failed, 0);
    assert_int_equal(x.r.first_failed_line, 0);
    assert_int_equal(x.r.quit, 0);
    assert_same_output(x.out, out.buf);
    assert_string_equal(x.err, "");
    /* (the output is not empty: each command said something) */
    assert_non_null(strstr(x.out, "rule 1: name=conv1 : act_bits=16 (1 layer)\n"));
    assert_non_null(strstr(x.out, "rule 2: name=gap : act_bits=12 (1 layer)\n"));
    assert_non_null(strstr(x.out, "1 on  name=conv1 : act_bits=16"));
    /* the commands changed the session as on the twin, the comments nothing */
    static const char *const want[] = {"name=conv1 : act_bits=16", "name=gap : act_bits=12"};
    expect_rules(f.s, 2, want);
    expect_rules(t.s, 2, want);
    assert_true(f.s->current == t.s->current);
    assert_int_equal(f.s->hist.n, t.s->hist.n);
    assert_int_equal(f.s->q->layers[sf_layer(f.s, "conv1")].act.n_bits, 16);
    assert_int_equal(f.s->q->layers[sf_layer(f.s, "gap")].act.n_bits, 12);
    run_free(&x);

    /* nothing but comments and blanks; an empty file */
    run_script(f.s, "# only\n\n  # comments\n", NULL, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 0);
    assert_int_equal(x.r.failed, 0);
    assert_string_equal(x.out, "");
    assert_string_equal(x.err, "");
    run_free(&x);
    run_script(f.s, "", NULL, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 0);
    assert_int_equal(x.r.failed, 0);
    assert_int_equal(x.r.first_failed_line, 0);
    assert_int_equal(x.r.quit, 0);
    assert_string_equal(x.out, "");
    run_free(&x);
    expect_rules(f.s, 2, want);
    free_pair(&f, &t);
}

/* ---- 2. a failing command stops the script ---- */

static void test_failure_stops(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    const char *script = "rule name=gap : act_bits=12\n"   /* 1 */
                         "# the next one fails\n"          /* 2 */
                         "bits nosuch 4\n"                 /* 3 */
                         "rule name=conv1 : act_bits=16\n" /* 4 */
                         "status\n";                       /* 5 */
    text out = {0}, err = {0};
    qdb_err ce;
    assert_int_equal(twin_line(&t, 1, "rule name=gap : act_bits=12", 0, &out, &err, &ce), QDB_OK);
    qdb_status want_st = twin_line(&t, 3, "bits nosuch 4", 0, &out, &err, &ce);
    assert_int_equal(want_st, QDB_ERR_INVALID);
    assert_true(starts_with(ce.msg, "bits: no layer 'nosuch'"));

    run x;
    run_script(f.s, script, NULL, &x);
    assert_int_equal(x.st, want_st);
    assert_int_equal(x.e.code, want_st);
    assert_int_equal(x.r.commands, 2);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 3);
    assert_int_equal(x.r.quit, 0);
    /* e: "WHAT:3: " and the command's message */
    assert_true(starts_with(x.e.msg, WHAT ":3: "));
    assert_string_equal(x.e.msg + strlen(WHAT ":3: "), ce.msg);
    /* err: the same line, once */
    char line[1200];
    snprintf(line, sizeof line, "%s\n", x.e.msg);
    assert_string_equal(x.err, line);
    assert_string_equal(x.err, err.buf);
    /* out: the first command's text only */
    assert_same_output(x.out, out.buf);
    assert_null(strstr(x.out, "conv1"));
    /* lines 4 and 5 did not run: no rule on conv1 */
    static const char *const want[] = {"name=gap : act_bits=12"};
    expect_rules(f.s, 1, want);
    assert_int_equal(f.s->q->layers[sf_layer(f.s, "conv1")].act.n_bits, 8);
    assert_true(f.s->current == t.s->current);
    run_free(&x);

    /* the first line fails: nothing ran */
    run_script(f.s, "frobnicate\nrule name=conv1 : act_bits=16\n", NULL, &x);
    assert_int_equal(x.st, QDB_ERR_INVALID);
    assert_int_equal(x.r.commands, 1);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 1);
    assert_true(starts_with(x.e.msg, WHAT ":1: unknown command 'frobnicate'"));
    assert_string_equal(x.out, "");
    expect_rules(f.s, 1, want);
    run_free(&x);
    free_pair(&f, &t);
}

/* Cancels everything. */
static int cancel_all(void *user, const char *phase, int64_t done, int64_t total)
{
    (void)phase;
    (void)done;
    (void)total;
    ++*(int *)user;
    return 1;
}

/* A command cancelled through the progress callback (given in the options,
 * with its user pointer) fails with its own status and stops the script;
 * the commands that report no progress ran. */
static void test_cancelled(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, "head");
    int calls = 0;
    qdb_script_opts o = {.progress = cancel_all, .user = &calls};
    run x;
    run_script(f.s, "status\nrule name=gap : act_bits=12\nrules\nlayer gap\n", &o, &x);
    assert_int_equal(x.st, QDB_ERR_CANCELLED);
    assert_int_equal(x.e.code, QDB_ERR_CANCELLED);
    assert_true(calls >= 1);
    assert_int_equal(x.r.commands, 2);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 2);
    assert_true(starts_with(x.e.msg, WHAT ":2: rule: "));
    assert_non_null(strstr(x.e.msg, "cancelled"));
    assert_true(starts_with(x.out, "float 75.00 %"));
    assert_int_equal(f.s->rs->n, 0);
    run_free(&x);
    sf_free(&f);
}

/* ---- 3. keep_going ---- */

static void test_keep_going(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    const char *script = "bits nosuch 4\n"                 /* 1: fails */
                         "rule name=gap : act_bits=12\n"   /* 2 */
                         "frobnicate now\n"                /* 3: fails */
                         "\n"                              /* 4 */
                         "rule name=conv1 : act_bits=16\n" /* 5 */
                         "set nosuch=1\n"                  /* 6: fails */
                         "rules\n";                        /* 7 */
    static const int nos[] = {1, 2, 3, 5, 6, 7};
    static const char *const lines[] = {"bits nosuch 4",  "rule name=gap : act_bits=12",
                                        "frobnicate now", "rule name=conv1 : act_bits=16",
                                        "set nosuch=1",   "rules"};
    static const int fails[] = {1, 0, 1, 0, 1, 0};
    text out = {0}, err = {0};
    qdb_err first = {0};
    for (int i = 0; i < 6; i++) {
        qdb_err ce;
        qdb_status st = twin_line(&t, nos[i], lines[i], 0, &out, &err, &ce);
        assert_int_equal(st != QDB_OK, fails[i]);
        if (i == 0)
            first = ce;
    }

    qdb_script_opts o = {.keep_going = 1};
    run x;
    run_script(f.s, script, &o, &x);
    assert_int_equal(x.st, first.code);
    assert_int_equal(x.st, QDB_ERR_INVALID);
    assert_int_equal(x.r.commands, 6);
    assert_int_equal(x.r.failed, 3);
    assert_int_equal(x.r.first_failed_line, 1);
    assert_int_equal(x.r.quit, 0);
    /* e: the first failure */
    char want_e[1200];
    snprintf(want_e, sizeof want_e, "%s:1: %s", WHAT, first.msg);
    assert_string_equal(x.e.msg, want_e);
    /* err: every failure, in order, with its line */
    assert_string_equal(x.err, err.buf);
    assert_true(starts_with(x.err, WHAT ":1: bits: no layer 'nosuch'"));
    assert_non_null(strstr(x.err, "\n" WHAT ":3: unknown command 'frobnicate'"));
    assert_non_null(strstr(x.err, "\n" WHAT ":6: set: unknown quantization parameter 'nosuch'"));
    assert_same_output(x.out, out.buf);
    /* the commands after the failures ran */
    static const char *const want[] = {"name=gap : act_bits=12", "name=conv1 : act_bits=16"};
    expect_rules(f.s, 2, want);
    assert_true(f.s->current == t.s->current);
    run_free(&x);

    /* everything succeeds: as without keep_going */
    run_script(f.s, "status\n# c\nrules\n", &o, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 2);
    assert_int_equal(x.r.failed, 0);
    assert_int_equal(x.r.first_failed_line, 0);
    assert_string_equal(x.err, "");
    run_free(&x);
    free_pair(&f, &t);
}

/* ---- 4. quit ---- */

static void test_quit(void **state)
{
    (void)state;
    sf_fixture f;
    sf_open(&f, "head");
    static const char *const gap[] = {"name=gap : act_bits=12"};
    run x;
    /* "# quit" is a comment; quit ends the script */
    run_script(f.s,
               "rule name=gap : act_bits=12\n# quit\n  quit  \nrule name=conv1 : act_bits=16\n"
               "bits nosuch 4\n",
               NULL, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.quit, 1);
    assert_int_equal(x.r.commands, 2);
    assert_int_equal(x.r.failed, 0);
    assert_int_equal(x.r.first_failed_line, 0);
    assert_string_equal(x.err, "");
    expect_rules(f.s, 1, gap);
    run_free(&x);

    /* also with keep_going, and after a failure (whose status is returned) */
    qdb_script_opts o = {.keep_going = 1};
    run_script(f.s, "bits nosuch 4\nquit\nrule name=conv1 : act_bits=16\n", &o, &x);
    assert_int_equal(x.st, QDB_ERR_INVALID);
    assert_int_equal(x.r.quit, 1);
    assert_int_equal(x.r.commands, 2);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 1);
    expect_rules(f.s, 1, gap);
    run_free(&x);

    /* quit on the last line */
    run_script(f.s, "status\nquit", NULL, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.quit, 1);
    assert_int_equal(x.r.commands, 2);
    run_free(&x);
    sf_free(&f);
}

/* ---- 5. echo ---- */

static void test_echo(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    const char *script = "# not echoed\n"                  /* 1 */
                         "   status\n"                     /* 2 */
                         "\n"                              /* 3 */
                         "rule name=gap : act_bits=12\n"   /* 4 */
                         "rules\n"                         /* 5 */
                         "quit\n"                          /* 6 */
                         "status\n";                       /* 7 */
    static const char *const lines[] = {"status", "rule name=gap : act_bits=12", "rules", "quit"};
    static const int nos[] = {2, 4, 5, 6};
    text out = {0}, err = {0};
    for (int i = 0; i < 4; i++) {
        qdb_err ce;
        assert_int_equal(twin_line(&t, nos[i], lines[i], 1, &out, &err, &ce), QDB_OK);
    }
    qdb_script_opts o = {.echo = 1};
    run x;
    run_script(f.s, script, &o, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 4);
    assert_int_equal(x.r.quit, 1);
    assert_same_output(x.out, out.buf);
    assert_true(starts_with(x.out, "> status\nfloat 75.00 %"));
    assert_non_null(strstr(x.out, "\n> rule name=gap : act_bits=12\nrule 1: "));
    assert_null(strstr(x.out, "not echoed"));
    /* quit echoed, says nothing, and is the end */
    size_t n = strlen(x.out);
    assert_true(n >= 7);
    assert_string_equal(x.out + n - 7, "> quit\n");
    run_free(&x);

    /* a failing command is echoed too, then the script stops */
    run_script(f.s, "bits nosuch 4\nstatus\n", &o, &x);
    assert_int_equal(x.st, QDB_ERR_INVALID);
    assert_string_equal(x.out, "> bits nosuch 4\n");
    assert_true(starts_with(x.err, WHAT ":1: bits: no layer 'nosuch'"));
    run_free(&x);

    /* without echo: no "> " lines */
    run_script(f.s, "status\n", NULL, &x);
    assert_true(starts_with(x.out, "float 75.00 %"));
    assert_null(strstr(x.out, "> "));
    run_free(&x);
    free_pair(&f, &t);
}

/* ---- 6. long lines ---- */

#define KIB64 (64 * 1024)

static void test_long_line(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    /* line 2: a rule with a 70000-byte layer name (longer than 64 KiB) */
    size_t big = 70000;
    char *script = malloc(big + 200);
    assert_non_null(script);
    strcpy(script, "status\nrule name=");
    size_t n = strlen(script);
    memset(script + n, 'a', big);
    n += big;
    strcpy(script + n, " : act_bits=12\nrule name=gap : act_bits=12\n");
    run x;
    run_script(f.s, script, NULL, &x);
    assert_int_not_equal(x.st, QDB_OK);
    assert_int_equal(x.e.code, x.st);
    assert_int_equal(x.r.commands, 1);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 2);
    assert_true(starts_with(x.e.msg, WHAT ":2: "));
    assert_non_null(strstr(x.e.msg, "longer than"));
    char line[1200];
    snprintf(line, sizeof line, "%s\n", x.e.msg);
    assert_string_equal(x.err, line);
    assert_true(starts_with(x.out, "float 75.00 %")); /* line 1 ran */
    /* nothing after it ran */
    assert_int_equal(f.s->rs->n, 0);
    run_free(&x);

    /* a long comment is a long line too */
    memset(script, '#', big);
    strcpy(script + big, "\nstatus\n");
    run_script(f.s, script, NULL, &x);
    assert_int_not_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 0);
    assert_int_equal(x.r.first_failed_line, 1);
    assert_true(starts_with(x.e.msg, WHAT ":1: "));
    assert_string_equal(x.out, "");
    run_free(&x);

    /* just under the limit: a command of 64 KiB - 100 bytes runs (no layer
     * of that name: match selects none) */
    const char *pre = "match name=";
    size_t len = KIB64 - 100;
    memset(script, 'b', len);
    memcpy(script, pre, strlen(pre));
    strcpy(script + len, "\nstatus\n");
    text out = {0}, err = {0};
    qdb_err ce;
    script[len] = 0;
    assert_int_equal(twin_line(&t, 1, script, 0, &out, &err, &ce), QDB_OK);
    assert_int_equal(twin_line(&t, 2, "status", 0, &out, &err, &ce), QDB_OK);
    script[len] = '\n';
    run_script(f.s, script, NULL, &x);
    if (x.st != QDB_OK)
        fail_msg("%s", x.e.msg);
    assert_int_equal(x.r.commands, 2);
    assert_same_output(x.out, out.buf);
    assert_true(starts_with(x.out, "0 of 4 layers match (warning: none)\n"));
    run_free(&x);

    /* exactly at the limit: 64 KiB of command, with LF or CR LF, runs */
    for (int crlf = 0; crlf < 2; crlf++) {
        memset(script, 'b', KIB64);
        memcpy(script, pre, strlen(pre));
        strcpy(script + KIB64, crlf ? "\r\n" : "\n");
        run_script(f.s, script, NULL, &x);
        if (x.st != QDB_OK)
            fail_msg("%s", x.e.msg);
        assert_int_equal(x.r.commands, 1);
        run_free(&x);
        /* one byte more is too long */
        memset(script, 'b', KIB64 + 1);
        memcpy(script, pre, strlen(pre));
        strcpy(script + KIB64 + 1, crlf ? "\r\n" : "\n");
        run_script(f.s, script, NULL, &x);
        assert_int_equal(x.st, QDB_ERR_INVALID);
        assert_int_equal(x.r.first_failed_line, 1);
        run_free(&x);
    }

    /* keep going: a long line after a failing command does not replace
     * the first failure */
    strcpy(script, "frobnicate\n");
    n = strlen(script);
    memset(script + n, 'c', big);
    strcpy(script + n + big, "\n");
    qdb_script_opts ko = {.keep_going = 1};
    run_script(f.s, script, &ko, &x);
    assert_int_equal(x.r.failed, 2);
    assert_int_equal(x.r.first_failed_line, 1);
    assert_true(starts_with(x.e.msg, WHAT ":1: "));
    run_free(&x);
    free(script);
    free_pair(&f, &t);
}

/* ---- 7. CRLF ---- */

static void test_crlf(void **state)
{
    (void)state;
    sf_fixture f, t;
    open_pair(&f, &t);
    const char *script = "# windows\r\n"                   /* 1 */
                         "\r\n"                            /* 2 */
                         "status\r\n"                      /* 3 */
                         "rule name=gap : act_bits=12\r\n" /* 4 */
                         "bits conv1 16\r\n"               /* 5 */
                         "rules\r\n"                       /* 6 */
                         "bits nosuch 4\r\n"               /* 7 */
                         "status\r\n";                     /* 8 */
    static const char *const lines[] = {"status", "rule name=gap : act_bits=12", "bits conv1 16",
                                        "rules", "bits nosuch 4"};
    static const int nos[] = {3, 4, 5, 6, 7};
    text out = {0}, err = {0};
    for (int i = 0; i < 5; i++) {
        qdb_err ce;
        assert_int_equal(twin_line(&t, nos[i], lines[i], 1, &out, &err, &ce) != QDB_OK, i == 4);
    }
    qdb_script_opts o = {.echo = 1};
    run x;
    run_script(f.s, script, &o, &x);
    assert_int_equal(x.st, QDB_ERR_INVALID);
    assert_int_equal(x.r.commands, 5);
    assert_int_equal(x.r.failed, 1);
    assert_int_equal(x.r.first_failed_line, 7);
    /* no carriage return anywhere: not in the commands, echo or messages */
    assert_null(strchr(x.out, '\r'));
    assert_null(strchr(x.err, '\r'));
    assert_null(strchr(x.e.msg, '\r'));
    assert_same_output(x.out, out.buf);
    assert_string_equal(x.err, err.buf);
    /* the values were read without the CR */
    static const char *const want[] = {"name=gap : act_bits=12", "name=conv1 : act_bits=16"};
    expect_rules(f.s, 2, want);
    assert_int_equal(f.s->q->layers[sf_layer(f.s, "gap")].act.n_bits, 12);
    assert_int_equal(f.s->q->layers[sf_layer(f.s, "conv1")].act.n_bits, 16);
    run_free(&x);

    /* a lone CR line is blank; the last line CRLF-less */
    run_script(f.s, "\r\n  \r\nstatus", &o, &x);
    assert_int_equal(x.st, QDB_OK);
    assert_int_equal(x.r.commands, 1);
    assert_true(starts_with(x.out, "> status\nfloat 75.00 %"));
    run_free(&x);
    free_pair(&f, &t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_failure_stops),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_keep_going),
        cmocka_unit_test(test_quit),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_crlf),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
