/* state.c - the TUI's curses-free state logic (see state.h): the
 * displayed order of the layer table (sort and filter) and which layers
 * count as the worst. Unit-tested without a terminal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state.h"

int tui_selected_layer(const tui_state *t)
{
    return t->sel >= 0 && t->sel < t->n_order ? t->order[t->sel] : -1;
}

static const tui_state *sort_state;

static int cmp_layers(const void *a, const void *b)
{
    const vlayer *x = &sort_state->v.l[*(const int *)a], *y = &sort_state->v.l[*(const int *)b];
    if (sort_state->sort == SORT_NAME) {
        int c = strcmp(x->name, y->name);
        return c ? c : *(const int *)a - *(const int *)b;
    }
    /* SQNR: worst (lowest own: the layer's own quantization, float input)
     * first, +inf (exact) after every finite one; layers without figures
     * (or with NaN) last */
    int hx = x->metrics && !isnan(x->sqnr_own), hy = y->metrics && !isnan(y->sqnr_own);
    if (hx != hy)
        return hx ? -1 : 1;
    if (hx && x->sqnr_own != y->sqnr_own)
        return x->sqnr_own < y->sqnr_own ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* Does s contain w, ignoring case (as rule keywords and op types do)? */
static int contains_nocase(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s; s++)
        if (!strncasecmp(s, w, n))
            return 1;
    return n == 0;
}

void tui_reorder(tui_state *t)
{
    int keep = tui_selected_layer(t);
    free(t->order);
    t->order = malloc(sizeof *t->order * (size_t)(t->v.n ? t->v.n : 1));
    t->n_order = 0;
    if (!t->order)
        return;
    for (int i = 0; i < t->v.n; i++)
        if (!t->filter[0] || contains_nocase(t->v.l[i].name, t->filter) ||
            contains_nocase(t->v.l[i].op, t->filter))
            t->order[t->n_order++] = i;
    if (t->sort != SORT_ORDER) {
        sort_state = t;
        qsort(t->order, (size_t)t->n_order, sizeof *t->order, cmp_layers);
    }
    t->sel = 0;
    for (int i = 0; i < t->n_order; i++)
        if (t->order[i] == keep)
            t->sel = i;
}

/* The few layers with the lowest own SQNR stand out (as in qdb quantize):
 * those whose own quantization loses most, wherever they are. */
double tui_worst_sqnr(const view *v)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY};
    for (int i = 0; i < v->n; i++) {
        if (!v->l[i].metrics || !v->l[i].act_active)
            continue;
        double s = v->l[i].sqnr_own;
        if (s < lo[2]) {
            lo[2] = s;
            for (int k = 2; k > 0 && lo[k] < lo[k - 1]; k--) {
                double tmp = lo[k];
                lo[k] = lo[k - 1];
                lo[k - 1] = tmp;
            }
        }
    }
    return lo[2];
}


void tui_short_name(const char *name, char *out, size_t n)
{
    if (!n)
        return;
    size_t k = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!len)
            break;
        /* the next segment: this one followed by '.' */
        const char *next = end ? end + 1 : NULL;
        int repeated = next && !strncmp(next, p, len) && next[len] == '.';
        if (!repeated) {
            if (k && k + 1 < n)
                out[k++] = '/';
            for (size_t i = 0; i < len && k + 1 < n; i++)
                out[k++] = p[i];
        }
        p += len;
    }
    out[k] = '\0';
    if (!k) /* nothing but slashes: as it is */
        snprintf(out, n, "%s", name);
}
