/* test_rule.c - the rule language (editor/rule.h): each atom and operator,
 * precedence and parentheses, quoting and escapes, every parse error with
 * its column, attribute / filter-key suggestions, value ranges, matching
 * against a hand-made layer table (expected sets worked out by hand),
 * the canonical text (a corpus with hand-written canonical forms, and
 * random trees from a seeded PRNG: print, parse, compare), JSON round
 * trips, and the op-type check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "layer_attr.h"
#include "rule.h"

/* ---- helpers ------------------------------------------------------------- */

static qdb_rule *parse_ok(const char *text)
{
    qdb_err e = {0};
    qdb_rule *r = qdb_rule_parse(text, &e);
    if (!r)
        fail_msg("parse of '%s' failed: %s", text, e.msg);
    return r;
}

/* The rule's canonical text equals `want`. */
static void canon(const char *text, const char *want)
{
    qdb_rule *r = parse_ok(text);
    char *s = qdb_rule_format(r);
    assert_non_null(s);
    if (strcmp(s, want))
        fail_msg("'%s' printed as '%s', expected '%s'", text, s, want);
    free(s);
    qdb_rule_free(r);
}

/* Parsing `text` fails with exactly `msg`. */
static void parse_err(const char *text, const char *msg)
{
    qdb_err e = {0};
    qdb_rule *r = qdb_rule_parse(text, &e);
    if (r) {
        qdb_rule_free(r);
        fail_msg("'%s' parsed; expected error '%s'", text, msg);
    }
    assert_int_equal(e.code, QDB_ERR_INVALID);
    if (strcmp(e.msg, msg))
        fail_msg("'%s':\n got      '%s'\n expected '%s'", text, e.msg, msg);
}

/* Parsing `text` fails with a message starting with `prefix`. */
static void parse_err_prefix(const char *text, const char *prefix, qdb_err *e)
{
    qdb_rule *r = qdb_rule_parse(text, e);
    if (r) {
        qdb_rule_free(r);
        fail_msg("'%s' parsed; expected an error", text);
    }
    if (strncmp(e->msg, prefix, strlen(prefix)))
        fail_msg("'%s':\n got      '%s'\n expected '%s...'", text, e->msg, prefix);
}

/* ---- parsing: atoms, operators, precedence ------------------------------- */

static void test_atoms(void **state)
{
    (void)state;
    qdb_rule *r = parse_ok("type=Sigmoid : act_bits=16");
    assert_int_equal(r->filter->kind, QDB_FILTER_TYPE);
    assert_string_equal(r->filter->text, "Sigmoid");
    assert_int_equal(r->n_actions, 1);
    assert_int_equal(r->actions[0].attr, QDB_LA_ACT_BITS);
    assert_true(r->actions[0].value == 16.0);
    assert_int_equal(r->enabled, 1);
    qdb_rule_free(r);

    r = parse_ok("name=/stem/conv/Conv : w_bits=4");
    assert_int_equal(r->filter->kind, QDB_FILTER_NAME);
    assert_string_equal(r->filter->text, "/stem/conv/Conv");
    qdb_rule_free(r);

    r = parse_ok("name:blocks.1 : w_bits=4");
    assert_int_equal(r->filter->kind, QDB_FILTER_SCOPE);
    assert_string_equal(r->filter->text, "blocks.1");
    qdb_rule_free(r);

    r = parse_ok("name~\"^conv[0-9]+$\" : act_error=KL");
    assert_int_equal(r->filter->kind, QDB_FILTER_REGEX);
    assert_string_equal(r->filter->text, "^conv[0-9]+$");
    assert_non_null(r->filter->re);
    assert_int_equal(r->actions[0].attr, QDB_LA_ACT_ERROR);
    assert_true(r->actions[0].value == (double)QDB_EM_KL);
    qdb_rule_free(r);

    /* index forms, with and without blanks, quoted */
    static const char *const ranges[] = {"index=3..7 : w_bits=4", "index = 3 .. 7 : w_bits=4",
                                         "index=3 ..7 : w_bits=4", "index=3.. 7 : w_bits=4",
                                         "index=\"3..7\" : w_bits=4", "INDEX=3..7:w_bits=4"};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        r = parse_ok(ranges[i]);
        assert_int_equal(r->filter->kind, QDB_FILTER_INDEX);
        assert_int_equal(r->filter->lo, 3);
        assert_int_equal(r->filter->hi, 7);
        qdb_rule_free(r);
    }
    r = parse_ok("index=5 : w_bits=4");
    assert_int_equal(r->filter->lo, 5);
    assert_int_equal(r->filter->hi, 5);
    qdb_rule_free(r);
    r = parse_ok("index=0..2147483647 : w_bits=4");
    assert_int_equal(r->filter->lo, 0);
    assert_int_equal(r->filter->hi, 2147483647);
    qdb_rule_free(r);

    r = parse_ok("ALL : ACT_BITS=8");
    assert_int_equal(r->filter->kind, QDB_FILTER_ALL);
    qdb_rule_free(r);

    /* no blanks at all */
    r = parse_ok("type=Conv:act_bits=8,w_bits=4");
    assert_int_equal(r->filter->kind, QDB_FILTER_TYPE);
    assert_string_equal(r->filter->text, "Conv");
    assert_int_equal(r->n_actions, 2);
    assert_int_equal(r->actions[1].attr, QDB_LA_W_BITS);
    qdb_rule_free(r);

    /* keywords are only keywords in a key position: a value may be 'and' */
    r = parse_ok("name=and or name=not : w_bits=4");
    assert_int_equal(r->filter->kind, QDB_FILTER_OR);
    assert_string_equal(r->filter->a->text, "and");
    assert_string_equal(r->filter->b->text, "not");
    qdb_rule_free(r);
}

static void test_operators_and_precedence(void **state)
{
    (void)state;
    /* a or b and not c  ==  a or (b and (not c)) */
    qdb_rule *r = parse_ok("type=Add or name=x and not index=3 : act_bits=8");
    const qdb_filter *f = r->filter;
    assert_int_equal(f->kind, QDB_FILTER_OR);
    assert_int_equal(f->a->kind, QDB_FILTER_TYPE);
    assert_int_equal(f->b->kind, QDB_FILTER_AND);
    assert_int_equal(f->b->a->kind, QDB_FILTER_NAME);
    assert_int_equal(f->b->b->kind, QDB_FILTER_NOT);
    assert_int_equal(f->b->b->a->kind, QDB_FILTER_INDEX);
    qdb_rule_free(r);

    /* not a and b == (not a) and b */
    r = parse_ok("NOT type=Add AND name=x : act_bits=8");
    f = r->filter;
    assert_int_equal(f->kind, QDB_FILTER_AND);
    assert_int_equal(f->a->kind, QDB_FILTER_NOT);
    assert_int_equal(f->b->kind, QDB_FILTER_NAME);
    qdb_rule_free(r);

    /* left-associative: a and b and c == (a and b) and c */
    r = parse_ok("name=a and name=b and name=c : act_bits=8");
    f = r->filter;
    assert_int_equal(f->kind, QDB_FILTER_AND);
    assert_int_equal(f->a->kind, QDB_FILTER_AND);
    assert_string_equal(f->a->a->text, "a");
    assert_string_equal(f->a->b->text, "b");
    assert_string_equal(f->b->text, "c");
    qdb_rule_free(r);

    /* parentheses override */
    r = parse_ok("(type=Add Or name=x) and not (index=3 or all) : act_bits=8");
    f = r->filter;
    assert_int_equal(f->kind, QDB_FILTER_AND);
    assert_int_equal(f->a->kind, QDB_FILTER_OR);
    assert_int_equal(f->b->kind, QDB_FILTER_NOT);
    assert_int_equal(f->b->a->kind, QDB_FILTER_OR);
    assert_int_equal(f->b->a->b->kind, QDB_FILTER_ALL);
    qdb_rule_free(r);

    r = parse_ok("not not not all : act_bits=8");
    f = r->filter;
    for (int i = 0; i < 3; i++, f = f->a)
        assert_int_equal(f->kind, QDB_FILTER_NOT);
    assert_int_equal(f->kind, QDB_FILTER_ALL);
    qdb_rule_free(r);
}

static void test_quoting_and_escapes(void **state)
{
    (void)state;
    qdb_rule *r = parse_ok("name=\"a \\\"b\\\" \\\\ c\" : w_bits=4");
    assert_string_equal(r->filter->text, "a \"b\" \\ c");
    qdb_rule_free(r);
    /* other backslashes stand for themselves (regular expressions) */
    r = parse_ok("name~\"^/blocks/blocks\\.[0-3]/\" : w_bits=4");
    assert_string_equal(r->filter->text, "^/blocks/blocks\\.[0-3]/");
    qdb_rule_free(r);
    /* in a bare word, a backslash is an ordinary character */
    r = parse_ok("name~a\\.b : w_bits=4");
    assert_string_equal(r->filter->text, "a\\.b");
    qdb_rule_free(r);
    r = parse_ok("name=\"\" : w_bits=4");
    assert_string_equal(r->filter->text, "");
    qdb_rule_free(r);
    r = parse_ok("name:\"odd name (x): y,z=w~\" : w_bits=4");
    assert_string_equal(r->filter->text, "odd name (x): y,z=w~");
    qdb_rule_free(r);
    /* quoted action values and attribute names in any case */
    r = parse_ok("all : Act_Error=\"kl\", w_quant=\"off\"");
    assert_int_equal(r->n_actions, 2);
    assert_true(r->actions[0].value == (double)QDB_EM_KL);
    assert_int_equal(r->actions[1].attr, QDB_LA_W_QUANT);
    assert_true(r->actions[1].value == 0.0);
    qdb_rule_free(r);
}

static void test_repeated_attribute(void **state)
{
    (void)state;
    qdb_rule *r = parse_ok("all : act_bits=8, w_bits=6, act_bits=4, act_error=MSE, act_bits=16");
    assert_int_equal(r->n_actions, 3);
    assert_int_equal(r->actions[0].attr, QDB_LA_ACT_BITS);
    assert_true(r->actions[0].value == 16.0);
    assert_int_equal(r->actions[1].attr, QDB_LA_W_BITS);
    assert_true(r->actions[1].value == 6.0);
    assert_int_equal(r->actions[2].attr, QDB_LA_ACT_ERROR);
    assert_true(r->actions[2].value == (double)QDB_EM_MSE);
    char *s = qdb_rule_format(r);
    assert_string_equal(s, "all : act_bits=16, w_bits=6, act_error=MSE");
    free(s);
    qdb_rule_free(r);

    /* every attribute at once */
    r = parse_ok("all : act_bits=9, act_method=UNIFORM, act_error=HMSE, act_signed=unsigned, "
                 "act_quant=off, act_threshold=2.5, z_threshold=3, shift_negative=on, w_bits=3, "
                 "w_method=SYMMETRIC, w_error=LP, w_per_channel=off, w_quant=on, "
                 "w_threshold=search, bias_correction=off");
    assert_int_equal(r->n_actions, QDB_LA_COUNT);
    for (int i = 0; i < QDB_LA_COUNT; i++)
        assert_int_equal(r->actions[i].attr, i);
    assert_true(r->actions[QDB_LA_ACT_THRESHOLD].value == 2.5);
    assert_true(r->actions[QDB_LA_W_THRESHOLD].value == 0.0);
    qdb_rule_free(r);
}

/* ---- errors --------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    parse_err("type=Sigmoid act_bits=16",
              "rule: column 14: expected ':' before the actions, got 'act_bits'");
    parse_err("type=Conv", "rule: column 10: expected ':' before the actions, got end of rule");
    parse_err("type=Conv :", "rule: column 12: expected an attribute (ATTR=VALUE) after ':', got end of rule");
    parse_err("type=Conv : w_bits=4,",
              "rule: column 22: expected an attribute (ATTR=VALUE) after ',', got end of rule");
    parse_err("type=Conv : act_bits", "rule: column 21: expected '=' after 'act_bits', got end of rule");
    parse_err("type=Conv : act_bits=", "rule: column 22: expected a value for 'act_bits', got end of rule");
    parse_err("type=Conv : act_bits=8 w_bits=4",
              "rule: column 24: expected ',' or the end of the rule after an action, got 'w_bits'");
    parse_err("(type=Conv : act_bits=8",
              "rule: column 12: expected ')' to close the '(' at column 1, got ':'");
    parse_err("type:Conv : act_bits=8", "rule: column 5: expected '=' after 'type', got ':'");
    parse_err("index~3 : act_bits=8", "rule: column 6: expected '=' after 'index', got '~'");
    parse_err("name Conv : act_bits=8",
              "rule: column 6: expected '=', ':' or '~' after 'name', got 'Conv'");
    parse_err("type= : act_bits=8", "rule: column 7: expected an op type after 'type=', got ':'");
    parse_err("name~ : act_bits=8",
              "rule: column 7: expected a regular expression after 'name~', got ':'");
    parse_err("name: : act_bits=8", "rule: column 7: expected a name substring after 'name:', got ':'");
    parse_err("type=\"\" : act_bits=8", "rule: column 6: empty op type after 'type='");
    parse_err("name=\"abc : act_bits=8", "rule: column 6: unterminated string (no closing '\"')");
    parse_err("type=Conv and : w_bits=4",
              "rule: column 15: expected a filter (type=, name=, name:, name~, index=, all, not or '('), "
              "got ':'");
    parse_err("type=Conv adn name:x : w_bits=4",
              "rule: column 11: expected ':' before the actions, got 'adn' (did you mean 'and'?)");
    parse_err("act_bits=8 : w_bits=4",
              "rule: column 1: expected a filter before the actions, got 'act_bits' "
              "(to change every layer, write 'all : act_bits=...')");
    parse_err("(type=Conv)) : w_bits=4", "rule: column 12: expected ':' before the actions, got ')'");
    parse_err("not : w_bits=4",
              "rule: column 5: expected a filter (type=, name=, name:, name~, index=, all, not or '('), "
              "got ':'");
    /* unknown filter keys */
    parse_err("nam=foo : act_bits=8",
              "rule: column 1: unknown filter key 'nam' (did you mean 'name'?); filter keys: type, name, index, all");
    parse_err("type=Add or tpye=Conv : act_bits=8",
              "rule: column 13: unknown filter key 'tpye' (did you mean 'type'?); filter keys: type, name, index, all");
    parse_err("layer=3 : act_bits=8",
              "rule: column 1: unknown filter key 'layer'; filter keys: type, name, index, all");
    /* index values */
    parse_err("index=7..3 : w_bits=4",
              "rule: column 7: index range 7..3 is empty (the first index must not exceed the second)");
    parse_err("index=-1 : w_bits=4",
              "rule: column 7: index must be a non-negative integer N or a range N..M, got '-1'");
    parse_err("index=3.. : w_bits=4",
              "rule: column 7: index must be a non-negative integer N or a range N..M, got '3..'");
    parse_err("index=1..2..3 : w_bits=4",
              "rule: column 7: index must be a non-negative integer N or a range N..M, got '1..2..3'");
    parse_err("index=2147483648 : w_bits=4",
              "rule: column 7: index must be a non-negative integer N or a range N..M, got '2147483648'");
    parse_err("index=x : w_bits=4",
              "rule: column 7: index must be a non-negative integer N or a range N..M, got 'x'");
    /* values out of range, with the range */
    parse_err("type=Conv : act_bits=1", "rule: column 22: act_bits must be a bit width from 2 to 16, got '1'");
    parse_err("type=Conv : act_bits=17", "rule: column 22: act_bits must be a bit width from 2 to 16, got '17'");
    parse_err("all : w_bits=4, w_bits=99", "rule: column 24: w_bits must be a bit width from 2 to 16, got '99'");
    parse_err("type=Conv : act_error=KLL",
              "rule: column 23: act_error must be NOCLIPPING, MSE, MAE, KL, LP or HMSE, got 'KLL'");
    parse_err("all : w_quant=maybe", "rule: column 15: w_quant must be on or off, got 'maybe'");
    parse_err("all : act_threshold=-1",
              "rule: column 21: act_threshold must be a threshold > 0 or 'search', got '-1'");

    qdb_err e = {0};
    /* unknown attribute: suggestion plus the full list */
    parse_err_prefix("type=Conv : act_bit=8",
                     "rule: column 13: unknown attribute 'act_bit' (did you mean 'act_bits'?); attributes: "
                     "act_bits, act_method, act_error, act_signed, act_quant, act_threshold, z_threshold, "
                     "shift_negative, w_bits, w_method, w_error, w_per_channel, w_quant, w_threshold, "
                     "bias_correction",
                     &e);
    parse_err_prefix("all : wbits=4", "rule: column 7: unknown attribute 'wbits' (did you mean 'w_bits'?)", &e);
    parse_err_prefix("all : colour=4", "rule: column 7: unknown attribute 'colour'; attributes: act_bits,", &e);
    /* empty rule */
    parse_err_prefix("", "rule: column 1: empty rule", &e);
    parse_err_prefix("   ", "rule: column 4: empty rule", &e);
    assert_null(qdb_rule_parse(NULL, &e));

    /* a bad regular expression gives regcomp's own message */
    regex_t re;
    int rc = regcomp(&re, "a(", REG_EXTENDED | REG_NOSUB);
    assert_int_not_equal(rc, 0);
    char eb[256], want[512];
    regerror(rc, &re, eb, sizeof eb);
    snprintf(want, sizeof want, "rule: column 6: bad regular expression 'a(': %s", eb);
    parse_err("name~\"a(\" : act_bits=8", want);

    /* nesting too deep is an error, not a crash */
    size_t n = 5000;
    char *deep = malloc(4 * n + 32);
    assert_non_null(deep);
    memset(deep, '(', n);
    strcpy(deep + n, "all");
    memset(deep + n + 3, ')', n);
    strcpy(deep + 2 * n + 3, " : w_bits=4");
    parse_err_prefix(deep, "rule: column ", &e);
    assert_non_null(strstr(e.msg, "filter nested too deeply"));
    for (size_t i = 0; i < n; i++)
        memcpy(deep + 4 * i, "not ", 4);
    strcpy(deep + 4 * n, "all : w_bits=4");
    parse_err_prefix(deep, "rule: column ", &e);
    assert_non_null(strstr(e.msg, "filter nested too deeply"));
    free(deep);
    /* but a long flat list of alternatives is fine */
    char *wide = malloc(400 * 16 + 32);
    assert_non_null(wide);
    wide[0] = 0;
    for (int i = 0; i < 400; i++)
        sprintf(wide + strlen(wide), "%sindex=%d", i ? " or " : "", i);
    strcat(wide, " : w_bits=4");
    qdb_rule *r = parse_ok(wide);
    char *s = qdb_rule_format(r);
    assert_string_equal(s, wide);
    free(s);
    qdb_rule_free(r);
    free(wide);
}

/* ---- matching ------------------------------------------------------------- */

static qdb_qlayer mk(const char *name, const char *op, const char *type, const char *last)
{
    qdb_qlayer l;
    memset(&l, 0, sizeof l);
    l.name = (char *)name;
    l.op = (char *)op;
    l.type = (char *)type;
    l.last_type = (char *)last;
    return l;
}

#define N_LAYERS 9

static void model(qdb_qmodel *q, qdb_qlayer *l)
{
    l[0] = mk("input", "Input", "Input", "Input");
    l[1] = mk("/stem/conv/Conv", "Conv+Relu", "Conv", "Relu");
    l[2] = mk("/blocks/blocks.0/conv/Conv", "Conv+Swish", "Conv", "Mul");
    l[3] = mk("/blocks/blocks.0/se/Sigmoid", "Sigmoid", "Sigmoid", "Sigmoid");
    l[4] = mk("/blocks/blocks.1/Add", "Add", "Add", "Add");
    l[5] = mk("/blocks/blocks.1/act/Sigmoid", "Swish", "Sigmoid", "Mul");
    l[6] = mk("/blocks/blocks.1/act/Sigmoid/shift", "ShiftNegative", "Add", "Add");
    l[7] = mk("/head/fc/Gemm", "Gemm+Relu", "Gemm", "Relu");
    l[8] = mk("odd name (x)", "MatMul", "MatMul", "MatMul");
    memset(q, 0, sizeof *q);
    q->layers = l;
    q->n_layers = q->n_base_layers = N_LAYERS;
}

/* The set of layers a filter selects, as a bit mask. */
static unsigned selected(const char *filter)
{
    qdb_qmodel q;
    qdb_qlayer l[N_LAYERS];
    model(&q, l);
    char text[512];
    snprintf(text, sizeof text, "%s : act_bits=8", filter);
    qdb_rule *r = parse_ok(text);
    unsigned m = 0;
    for (int i = 0; i < N_LAYERS; i++)
        m |= (unsigned)(qdb_filter_matches(r->filter, &q, i) != 0) << i;
    assert_false(qdb_filter_matches(r->filter, &q, -1));
    assert_false(qdb_filter_matches(r->filter, &q, N_LAYERS));
    /* a clone matches the same layers (its regex recompiled) */
    qdb_rule *c = qdb_rule_clone(r);
    assert_non_null(c);
    for (int i = 0; i < N_LAYERS; i++)
        assert_int_equal(qdb_filter_matches(c->filter, &q, i), (m >> i) & 1);
    qdb_rule_free(c);
    qdb_rule_free(r);
    return m;
}

#define B(i) (1u << (i))
#define ALL_LAYERS ((1u << N_LAYERS) - 1)

static void expect_sel(const char *filter, unsigned want)
{
    unsigned got = selected(filter);
    if (got != want)
        fail_msg("'%s' selects 0x%03x, expected 0x%03x", filter, got, want);
}

static void test_matching(void **state)
{
    (void)state;
    /* type: the group, its first node's type, its activation */
    expect_sel("type=Conv", B(1) | B(2));
    expect_sel("type=conv+relu", B(1));
    expect_sel("type=Conv+Swish", B(2));
    expect_sel("type=Relu", B(1) | B(7));
    expect_sel("type=SWISH", B(2) | B(5));
    expect_sel("type=Sigmoid", B(3) | B(5));
    expect_sel("type=Add", B(4) | B(6));
    expect_sel("type=ShiftNegative", B(6));
    expect_sel("type=Input", B(0));
    expect_sel("type=Gemm", B(7));
    expect_sel("type=Mul", 0);   /* a last node is not the layer's type */
    expect_sel("type=Conv+", 0);
    expect_sel("type=Relu+Conv", 0);
    /* names */
    expect_sel("name=input", B(0));
    expect_sel("name=Input", 0); /* exact and case-sensitive */
    expect_sel("name=/head/fc/Gemm", B(7));
    expect_sel("name=\"odd name (x)\"", B(8));
    expect_sel("name=/head/fc", 0);
    expect_sel("name:blocks.1", B(4) | B(5) | B(6));
    expect_sel("name:Sigmoid", B(3) | B(5) | B(6));
    expect_sel("name:\"\"", ALL_LAYERS);
    expect_sel("name:\" (\"", B(8));
    expect_sel("name~\"^/blocks/blocks\\.[0-1]/\"", B(2) | B(3) | B(4) | B(5) | B(6));
    expect_sel("name~Sigmoid$", B(3) | B(5));
    expect_sel("name~\"^(input|odd)\"", B(0) | B(8));
    expect_sel("name~\"blocks.0\"", B(2) | B(3)); /* '.' any char: blocks.0 only here */
    /* index */
    expect_sel("index=3..5", B(3) | B(4) | B(5));
    expect_sel("index=7", B(7));
    expect_sel("index=8..100", B(8));
    expect_sel("index=9..100", 0);
    expect_sel("all", ALL_LAYERS);
    /* operators */
    expect_sel("not type=Conv", ALL_LAYERS & ~(B(1) | B(2)));
    expect_sel("type=Sigmoid or type=Add and index=4..6", B(3) | B(4) | B(5) | B(6));
    expect_sel("(type=Sigmoid or type=Add) and index=4..6", B(4) | B(5) | B(6));
    expect_sel("not (index=0..3 or type=Gemm)", B(4) | B(5) | B(6) | B(8));
    expect_sel("not not all", ALL_LAYERS);
    expect_sel("name~\"^/blocks/blocks\\.[0-3]/\" and not type=Add", B(2) | B(3) | B(5));
    expect_sel("index=3..7 or name:\"odd\"", B(3) | B(4) | B(5) | B(6) | B(7) | B(8));
    expect_sel("type=Relu and not name:head or index=0", B(0) | B(1));

    /* NULLs */
    qdb_qmodel q;
    qdb_qlayer l[N_LAYERS];
    model(&q, l);
    assert_false(qdb_filter_matches(NULL, &q, 0));
    l[3].op = NULL;
    l[3].name = NULL;
    qdb_rule *r = parse_ok("type=Sigmoid or name:S or name~S or name=x : w_bits=4");
    assert_true(qdb_filter_matches(r->filter, &q, 3)); /* l->type still says Sigmoid */
    assert_false(qdb_filter_matches(r->filter, &q, 0));
    qdb_rule_free(r);

    /* the hint for a rule that selects nothing: a gate the model has only
     * inside x * gate(x) activations */
    qdb_qlayer h[3] = {mk("input", "Input", "Input", "Input"),
                       mk("/a/Conv", "Conv+Swish", "Conv", "Mul"),
                       mk("/b/Conv", "Conv+HardSwish", "Conv", "Mul")};
    q.layers = h;
    q.n_layers = q.n_base_layers = 3;
    const struct {
        const char *rule, *want; /* want: a word of the hint, NULL: none */
    } hints[] = {
        {"type=Sigmoid : act_bits=16", "type=Swish"},
        {"type=sigmoid and index=0..2 : act_bits=16", "type=Swish"},
        {"name:x or type=HardSigmoid : act_bits=16", "type=HardSwish"},
        {"type=Relu and not type=Sigmoid : act_bits=16", NULL},
        {"type=Relu : act_bits=16", NULL},
        {"name:Sigmoid : act_bits=16", NULL},
        {"index=5..9 : act_bits=16", "past the last layer"},
        {"name:x or index=3 : act_bits=16", "past the last layer"},
        {"not index=0..2 : act_bits=16", NULL},
    };
    for (size_t k = 0; k < sizeof hints / sizeof hints[0]; k++) {
        r = parse_ok(hints[k].rule);
        for (int i = 0; i < 3; i++)
            assert_false(qdb_filter_matches(r->filter, &q, i));
        const char *got = qdb_rule_hint(r, &q);
        if (!hints[k].want ? got != NULL : !got || !strstr(got, hints[k].want))
            fail_msg("'%s': hint '%s'", hints[k].rule, got ? got : "(none)");
        qdb_rule_free(r);
    }
    /* no x * Sigmoid(x) layer in the model: no hint */
    q.n_layers = q.n_base_layers = 1;
    r = parse_ok("type=Sigmoid : act_bits=16");
    assert_null(qdb_rule_hint(r, &q));
    qdb_rule_free(r);
}

/* ---- canonical text ------------------------------------------------------- */

static void test_canonical_corpus(void **state)
{
    (void)state;
    static const char *const corpus[][2] = {
        {"type=Sigmoid : act_bits=16", "type=Sigmoid : act_bits=16"},
        {"TYPE = Sigmoid:ACT_BITS = 16", "type=Sigmoid : act_bits=16"},
        {"name~\"^/blocks/blocks\\.[0-3]/\" and not type=Add : act_error=KL, act_bits=8",
         "name~^/blocks/blocks\\.[0-3]/ and not type=Add : act_error=KL, act_bits=8"},
        {"index=3..7 or name:\"branch_b\" : w_bits=4", "index=3..7 or name:branch_b : w_bits=4"},
        {"index=3..3 : w_bits=4", "index=3 : w_bits=4"},
        {"index = 0 .. 12 : w_bits=4", "index=0..12 : w_bits=4"},
        {"((type=Add)) and ((name=x)) : act_bits=8", "type=Add and name=x : act_bits=8"},
        {"type=Add or (name=x and not index=3) : act_bits=8", "type=Add or name=x and not index=3 : act_bits=8"},
        {"(type=Add or name=x) and not index=3 : act_bits=8", "(type=Add or name=x) and not index=3 : act_bits=8"},
        {"type=Add and (name=x and index=1) : act_bits=8", "type=Add and (name=x and index=1) : act_bits=8"},
        {"(type=Add and name=x) and index=1 : act_bits=8", "type=Add and name=x and index=1 : act_bits=8"},
        {"type=Add or (name=x or index=1) : act_bits=8", "type=Add or (name=x or index=1) : act_bits=8"},
        {"type=Add or (name=x and index=1) or all : act_bits=8", "type=Add or name=x and index=1 or all : act_bits=8"},
        {"not (not type=Add) : act_bits=8", "not not type=Add : act_bits=8"},
        {"not (type=Add and all) : act_bits=8", "not (type=Add and all) : act_bits=8"},
        {"not (type=Add) and all : act_bits=8", "not type=Add and all : act_bits=8"},
        {"name=\"odd name (x)\" : w_bits=4", "name=\"odd name (x)\" : w_bits=4"},
        {"name=\"\" : w_bits=4", "name=\"\" : w_bits=4"},
        {"name=\"plain\" : w_bits=4", "name=plain : w_bits=4"},
        {"name=\"a:b\" or name=\"a,b\" or name=\"a=b\" or name=\"a~b\" : w_bits=4",
         "name=\"a:b\" or name=\"a,b\" or name=\"a=b\" or name=\"a~b\" : w_bits=4"},
        {"name=\"tab\there\" : w_bits=4", "name=\"tab\there\" : w_bits=4"},
        {"name=\"q\\\"q\" : w_bits=4", "name=\"q\\\"q\" : w_bits=4"},
        {"name=\"x\\\\\" : w_bits=4", "name=x\\ : w_bits=4"},
        {"name=\"a b\\\\\" : w_bits=4", "name=\"a b\\\\\" : w_bits=4"},
        {"name=\"x\\\\y\" : w_bits=4", "name=x\\y : w_bits=4"},
        {"name~\"a\\\\\\\"b\" : w_bits=4", "name~\"a\\\\\\\"b\" : w_bits=4"},
        {"name=and : w_bits=4", "name=and : w_bits=4"},
        {"All : act_threshold=0.50, z_threshold=INF, act_signed=true, w_per_channel=no",
         "all : act_threshold=0.5, z_threshold=inf, act_signed=SIGNED, w_per_channel=off"},
        {"all : act_threshold=search, w_threshold=1e-3, act_method=uniform, w_error=noclipping",
         "all : act_threshold=search, w_threshold=0.001, act_method=UNIFORM, w_error=NOCLIPPING"},
        {"type=conv+relu : shift_negative=yes, bias_correction=0",
         "type=conv+relu : shift_negative=on, bias_correction=off"},
        {"name:x : act_bits=8, act_bits=4", "name:x : act_bits=4"},
    };
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        canon(corpus[i][0], corpus[i][1]);
        /* the canonical text is a fixed point and parses to an equal rule */
        canon(corpus[i][1], corpus[i][1]);
        qdb_rule *a = parse_ok(corpus[i][0]), *b = parse_ok(corpus[i][1]);
        assert_true(qdb_rule_equal(a, b));
        qdb_rule_free(a);
        qdb_rule_free(b);
    }
    /* escapes read back as written */
    qdb_rule *r = parse_ok("name~\"a\\\\\\\"b\" : w_bits=4");
    assert_string_equal(r->filter->text, "a\\\"b");
    qdb_rule_free(r);
    assert_null(qdb_rule_format(NULL));
}

static void test_equal_and_clone(void **state)
{
    (void)state;
    qdb_rule *a = parse_ok("type=Add and name~x : act_bits=8, w_bits=4");
    qdb_rule *b = parse_ok("type=ADD and name~x : w_bits=4, act_bits=8"); /* same meaning */
    qdb_rule *c = parse_ok("type=Add and name~X : act_bits=8, w_bits=4");  /* names are case-sensitive */
    qdb_rule *d = parse_ok("type=Add and name~x : act_bits=8, w_bits=5");
    qdb_rule *e = parse_ok("type=Add and name~x : act_bits=8");
    qdb_rule *f = parse_ok("name~x and type=Add : act_bits=8, w_bits=4");
    qdb_rule *g = parse_ok("type=Add or name~x : act_bits=8, w_bits=4");
    qdb_rule *h = parse_ok("type=Add and name:x : act_bits=8, w_bits=4");
    assert_true(qdb_rule_equal(a, b));
    assert_false(qdb_rule_equal(a, c));
    assert_false(qdb_rule_equal(a, d));
    assert_false(qdb_rule_equal(a, e));
    assert_false(qdb_rule_equal(a, f));
    assert_false(qdb_rule_equal(a, g));
    assert_false(qdb_rule_equal(a, h));
    assert_false(qdb_rule_equal(a, NULL));
    assert_true(qdb_rule_equal(NULL, NULL));
    qdb_rule *k = qdb_rule_clone(a);
    assert_non_null(k);
    assert_true(qdb_rule_equal(a, k));
    assert_ptr_not_equal(k->filter, a->filter);
    assert_ptr_not_equal(k->filter->b->re, a->filter->b->re);
    assert_int_equal(k->enabled, 1);
    /* enabled is state, not content */
    k->enabled = 0;
    assert_true(qdb_rule_equal(a, k));
    qdb_rule *rs[] = {a, b, c, d, e, f, g, h, k};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        qdb_rule_free(rs[i]);
    qdb_rule_free(NULL);
    assert_null(qdb_rule_clone(NULL));
}

/* ---- random trees --------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static char *sdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    assert_non_null(d);
    strcpy(d, s);
    return d;
}

/* A random string over an alphabet that includes every special character. */
static char *random_text(int allow_empty)
{
    static const char alpha[] = "ab/._0-9 \t()\":,=~\\+#$^";
    int n = (int)rnd(8) + (allow_empty ? 0 : 1);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    for (int i = 0; i < n; i++)
        s[i] = alpha[rnd(sizeof alpha - 1)];
    s[n] = 0;
    return s;
}

static qdb_filter *random_filter(int depth)
{
    static const char *const types[] = {"Conv", "conv+relu", "Sigmoid", "Add", "Swish", "Input",
                                        "ShiftNegative", "Gemm+HardSwish", "x y", "a\"b"};
    static const char *const regexes[] = {"^/blocks/blocks\\.[0-3]/", "Sigmoid$", "^(a|b)+:c$",
                                          "x y", "a\\\"b", "\\\\", "[[:digit:]]{2,}", ".*"};
    qdb_filter *f = calloc(1, sizeof *f);
    assert_non_null(f);
    int k = depth <= 0 ? (int)rnd(6) : (int)rnd(9);
    f->kind = (qdb_filter_kind)k;
    switch (f->kind) {
    case QDB_FILTER_ALL: break;
    case QDB_FILTER_TYPE: f->text = sdup(types[rnd(sizeof types / sizeof types[0])]); break;
    case QDB_FILTER_NAME:
    case QDB_FILTER_SCOPE: f->text = random_text(1); break;
    case QDB_FILTER_REGEX: {
        f->text = sdup(regexes[rnd(sizeof regexes / sizeof regexes[0])]);
        regex_t *re = malloc(sizeof *re);
        assert_non_null(re);
        assert_int_equal(regcomp(re, f->text, REG_EXTENDED | REG_NOSUB), 0);
        f->re = re;
        break;
    }
    case QDB_FILTER_INDEX:
        f->lo = (int)rnd(50);
        f->hi = f->lo + (rnd(2) ? 0 : (int)rnd(50));
        break;
    case QDB_FILTER_AND:
    case QDB_FILTER_OR:
        f->a = random_filter(depth - 1);
        f->b = random_filter(depth - 1);
        break;
    case QDB_FILTER_NOT: f->a = random_filter(depth - 1); break;
    }
    return f;
}

/* The test's own evaluation of a filter on layer l at index i. */
static int ref_eval(const qdb_filter *f, const qdb_qlayer *l, int i)
{
    switch (f->kind) {
    case QDB_FILTER_ALL: return 1;
    case QDB_FILTER_TYPE: {
        char act[64] = "";
        const char *p = strchr(l->op, '+');
        snprintf(act, sizeof act, "%s", p ? p + 1 : l->op);
        return !strcasecmp(f->text, l->op) || !strcasecmp(f->text, l->type) || !strcasecmp(f->text, act);
    }
    case QDB_FILTER_NAME: return !strcmp(f->text, l->name);
    case QDB_FILTER_SCOPE: {
        size_t n = strlen(f->text), m = strlen(l->name);
        for (size_t s = 0; s + n <= m; s++)
            if (!memcmp(l->name + s, f->text, n))
                return 1;
        return 0;
    }
    case QDB_FILTER_REGEX: return regexec(f->re, l->name, 0, NULL, 0) == 0;
    case QDB_FILTER_INDEX: return f->lo <= i && i <= f->hi;
    case QDB_FILTER_AND: return ref_eval(f->a, l, i) & ref_eval(f->b, l, i);
    case QDB_FILTER_OR: return ref_eval(f->a, l, i) | ref_eval(f->b, l, i);
    case QDB_FILTER_NOT: return !ref_eval(f->a, l, i);
    }
    return -1;
}

static void test_random_round_trip(void **state)
{
    (void)state;
    static const char *const values[QDB_LA_COUNT][3] = {
        {"2", "8", "16"},        {"POWER_OF_TWO", "SYMMETRIC", "UNIFORM"}, {"KL", "HMSE", "NOCLIPPING"},
        {"auto", "signed", "unsigned"}, {"on", "off", "on"},            {"search", "0.125", "3.5e-07"},
        {"inf", "2", "0.1"},     {"on", "off", "off"},                  {"3", "4", "15"},
        {"UNIFORM", "SYMMETRIC", "POWER_OF_TWO"}, {"MSE", "MAE", "LP"},  {"on", "off", "on"},
        {"off", "on", "off"},    {"search", "1e+30", "7"},              {"on", "off", "on"}};
    qdb_qmodel q;
    qdb_qlayer l[N_LAYERS];
    model(&q, l);
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int iter = 0; iter < 2000; iter++) {
        qdb_rule *r = calloc(1, sizeof *r);
        assert_non_null(r);
        r->filter = random_filter((int)rnd(6));
        r->enabled = (int)rnd(2);
        int na = 1 + (int)rnd(5);
        for (int i = 0; i < na; i++) {
            qdb_layer_attr a = (qdb_layer_attr)rnd(QDB_LA_COUNT);
            double v;
            assert_int_equal(qdb_layer_attr_value_parse(a, values[a][rnd(3)], &v, NULL), QDB_OK);
            int j = 0;
            while (j < r->n_actions && r->actions[j].attr != a)
                j++;
            r->actions[j].attr = a;
            r->actions[j].value = v;
            if (j == r->n_actions)
                r->n_actions++;
        }
        char *s = qdb_rule_format(r);
        assert_non_null(s);
        qdb_err e = {0};
        qdb_rule *p = qdb_rule_parse(s, &e);
        if (!p)
            fail_msg("iteration %d: '%s' does not parse: %s", iter, s, e.msg);
        if (!qdb_rule_equal(r, p))
            fail_msg("iteration %d: '%s' parses to a different rule", iter, s);
        char *s2 = qdb_rule_format(p);
        assert_string_equal(s, s2);
        /* the parsed rule selects what the generated tree selects */
        for (int i = 0; i < N_LAYERS; i++)
            if (qdb_filter_matches(p->filter, &q, i) != ref_eval(r->filter, &l[i], i))
                fail_msg("iteration %d: '%s' on layer %d", iter, s, i);
        /* JSON */
        cJSON *j = qdb_rule_to_json(r);
        assert_non_null(j);
        qdb_rule *fj = qdb_rule_from_json(j, &e);
        if (!fj)
            fail_msg("iteration %d: JSON of '%s' does not read back: %s", iter, s, e.msg);
        assert_true(qdb_rule_equal(r, fj));
        assert_int_equal(fj->enabled, r->enabled);
        cJSON_Delete(j);
        /* clone */
        qdb_rule *c = qdb_rule_clone(r);
        assert_true(qdb_rule_equal(r, c));
        free(s);
        free(s2);
        qdb_rule_free(c);
        qdb_rule_free(fj);
        qdb_rule_free(p);
        qdb_rule_free(r);
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static void test_json(void **state)
{
    (void)state;
    qdb_rule *r = parse_ok("name~\"^a b\" and not (type=Add or index=2..4) : act_error=KL, act_bits=8, "
                           "z_threshold=inf, act_threshold=0.25, w_quant=off, act_signed=unsigned");
    cJSON *j = qdb_rule_to_json(r);
    assert_non_null(j);
    cJSON *want = cJSON_Parse(
        "{\"text\": \"name~\\\"^a b\\\" and not (type=Add or index=2..4) : act_error=KL, act_bits=8, "
        "z_threshold=inf, act_threshold=0.25, w_quant=off, act_signed=UNSIGNED\","
        " \"enabled\": true,"
        " \"filter\": {\"and\": [{\"regex\": \"^a b\"}, {\"not\": {\"or\": [{\"type\": \"Add\"}, {\"index\": [2, 4]}]}}]},"
        " \"actions\": {\"act_error\": \"KL\", \"act_bits\": 8, \"z_threshold\": \"inf\","
        " \"act_threshold\": 0.25, \"w_quant\": \"off\", \"act_signed\": \"UNSIGNED\"}}");
    assert_non_null(want);
    if (!cJSON_Compare(j, want, 1)) {
        char *s = cJSON_Print(j);
        fail_msg("JSON: %s", s);
    }
    cJSON_Delete(want);
    cJSON_Delete(j);

    r->enabled = 0;
    j = qdb_rule_to_json(r);
    qdb_err e = {0};
    qdb_rule *b = qdb_rule_from_json(j, &e);
    assert_non_null(b);
    assert_true(qdb_rule_equal(r, b));
    assert_int_equal(b->enabled, 0);
    qdb_rule_free(b);
    cJSON_Delete(j);
    qdb_rule_free(r);

    /* hand-written: text alone; actions as strings or numbers; enabled default */
    static const char *const ok[] = {
        "{\"text\": \"all : act_bits=8\"}",
        "{\"text\": \"all : act_bits=8\", \"actions\": {\"act_bits\": \"8\"}}",
        "{\"text\": \"all : act_bits=8, act_error=KL\", \"actions\": {\"act_error\": \"kl\", \"act_bits\": 8}}",
        "{\"text\": \"all : act_bits=8\", \"filter\": {\"all\": true}, \"enabled\": true}",
        "{\"text\": \"index=3 : w_bits=4\", \"filter\": {\"index\": [3, 3]}}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        j = cJSON_Parse(ok[i]);
        assert_non_null(j);
        b = qdb_rule_from_json(j, &e);
        if (!b)
            fail_msg("%s: %s", ok[i], e.msg);
        assert_int_equal(b->enabled, 1);
        qdb_rule_free(b);
        cJSON_Delete(j);
    }
    static const char *const bad[][2] = {
        {"{\"enabled\": true}", "rule JSON: expected an object with a string \"text\""},
        {"[1]", "rule JSON: expected an object with a string \"text\""},
        {"{\"text\": \"all : act_bits=8\", \"enabled\": 1}", "rule JSON: \"enabled\" must be true or false"},
        {"{\"text\": \"all : act_bits=8\", \"filter\": {\"type\": \"Conv\"}}",
         "rule JSON: \"filter\" does not agree with \"text\" 'all : act_bits=8'"},
        {"{\"text\": \"index=3 : w_bits=4\", \"filter\": {\"index\": [3, 4]}}",
         "rule JSON: \"filter\" does not agree with \"text\" 'index=3 : w_bits=4'"},
        {"{\"text\": \"all : act_bits=8\", \"actions\": {\"act_bits\": 7}}",
         "rule JSON: \"actions\" do not agree with \"text\" 'all : act_bits=8'"},
        {"{\"text\": \"all : act_bits=8\", \"actions\": {\"act_bits\": 8, \"w_bits\": 8}}",
         "rule JSON: \"actions\" do not agree with \"text\" 'all : act_bits=8'"},
        {"{\"text\": \"all : act_bits=8\", \"actions\": {\"act_bitz\": 8}}",
         "rule JSON: \"actions\" do not agree with \"text\" 'all : act_bits=8'"},
        {"{\"text\": \"all act_bits=8\"}", "rule: column 5: expected ':' before the actions, got 'act_bits'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i][0]);
        assert_non_null(j);
        assert_null(qdb_rule_from_json(j, &e));
        if (strcmp(e.msg, bad[i][1]))
            fail_msg("%s:\n got      '%s'\n expected '%s'", bad[i][0], e.msg, bad[i][1]);
        cJSON_Delete(j);
    }
    assert_null(qdb_rule_from_json(NULL, &e));
    assert_null(qdb_rule_to_json(NULL));
}

/* ---- op types ------------------------------------------------------------- */

static qdb_status check(const char *filter, qdb_err *e)
{
    char text[256];
    snprintf(text, sizeof text, "%s : act_bits=8", filter);
    qdb_rule *r = parse_ok(text);
    qdb_status st = qdb_rule_check(r, e);
    qdb_rule_free(r);
    return st;
}

static void test_check(void **state)
{
    (void)state;
    qdb_err e = {0};
    static const char *const good[] = {
        "type=Conv", "type=conv", "type=Sigmoid", "type=HardSigmoid", "type=Softmax",
        "type=Conv+Relu", "type=CONV+RELU", "type=ConvTranspose+Tanh", "type=Gemm+HardSwish",
        "type=MatMul+Swish", "type=Div+LeakyRelu", "type=Add+Clip", "type=Conv+PRelu", "type=Swish",
        "type=HardSwish", "type=Input", "type=shiftnegative", "all", "name=Sigmod",
        "not (type=Add or type=Mul) and index=2..3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check(good[i], &e))
            fail_msg("%s: %s", good[i], e.msg);

    assert_int_equal(check("type=Sigmod", &e), QDB_ERR_INVALID);
    const char *want = "rule: unknown op type 'Sigmod' (did you mean 'Sigmoid'?); known types (closest first): Sigmoid,";
    if (strncmp(e.msg, want, strlen(want)))
        fail_msg("got '%s'", e.msg);
    /* the twelve closest, and how many it left out */
    assert_true(strlen(e.msg) < QDB_ERR_MSG_MAX);
    assert_non_null(strstr(e.msg, " more (any operator qdb runs"));
    int commas = 0;
    for (const char *p = strstr(e.msg, "closest first):"); p < strstr(e.msg, " more"); p++)
        commas += *p == ',';
    assert_int_equal(commas, 12); /* 11 between the twelve, 1 before "and" */

    /* found inside the tree, and closest-first ordering */
    assert_int_equal(check("all and not (index=1 or type=Conv+Rellu)", &e), QDB_ERR_INVALID);
    want = "rule: unknown op type 'Conv+Rellu' (did you mean 'Conv+Relu'?); known types (closest first): Conv+Relu,";
    if (strncmp(e.msg, want, strlen(want)))
        fail_msg("got '%s'", e.msg);

    /* no suggestion when nothing is close */
    assert_int_equal(check("type=Frobnicate", &e), QDB_ERR_INVALID);
    want = "rule: unknown op type 'Frobnicate'; known types (closest first): ";
    if (strncmp(e.msg, want, strlen(want)))
        fail_msg("got '%s'", e.msg);

    /* fused names only with an anchor and an activation */
    static const char *const badt[] = {"type=Relu+Conv", "type=Conv+", "type=+Relu", "type=Conv+Add",
                                       "type=Sigmoid+Relu", "type=Conv+Relu+Relu"};
    for (size_t i = 0; i < sizeof badt / sizeof badt[0]; i++)
        if (check(badt[i], &e) != QDB_ERR_INVALID)
            fail_msg("%s accepted", badt[i]);
    assert_int_equal(qdb_rule_check(NULL, &e), QDB_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atoms),
        cmocka_unit_test(test_operators_and_precedence),
        cmocka_unit_test(test_quoting_and_escapes),
        cmocka_unit_test(test_repeated_attribute),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_canonical_corpus),
        cmocka_unit_test(test_equal_and_clone),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
