/* pipeline.c - ordered data parallelism over batches (see pipeline.h).
 *
 * A ring of 2 x workers slots bounds the items in flight. Workers fetch
 * under the lock, work outside it, and whoever completes the oldest
 * outstanding item finishes it and every completed one after it, so that
 * finish sees b = 0, 1, 2, ... whatever order the work completes in. While
 * the pipeline runs, the kernels run single-threaded (OpenBLAS and qdb's
 * own pool), the threads being taken by the workers. */
#include "pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

enum { SLOT_EMPTY, SLOT_WORK, SLOT_DONE };

typedef struct {
    void *item;
    int state;
} slot;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const qdb_pipeline_fns *f;
    void *user;
    int64_t next_fetch, next_finish;
    int ended, stop;
    qdb_status st;
    qdb_err err;
    int n_slots;
    slot *ring;
} pipe_state;

typedef struct {
    pipe_state *p;
    int worker;
} worker_arg;

/* Under the lock: record the first error and stop. */
static void fail(pipe_state *p, qdb_status s, const qdb_err *e)
{
    if (p->st == QDB_OK) {
        p->st = s;
        if (e && e->code)
            p->err = *e;
        else
            qdb_err_set(&p->err, s, "%s", qdb_status_name(s));
    }
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
}

static void *work_loop(void *arg)
{
    const worker_arg *wa = arg;
    pipe_state *p = wa->p;
    qdb_err le;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->stop || p->ended)
            break;
        if (p->next_fetch - p->next_finish >= p->n_slots) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        int64_t b = p->next_fetch;
        void *item = NULL;
        qdb_err_clear(&le);
        qdb_status s = p->f->fetch(p->user, b, &item, &le);
        if (s != QDB_OK) {
            if (item && p->f->discard)
                p->f->discard(p->user, item);
            fail(p, s, &le);
            break;
        }
        if (!item) {
            p->ended = 1;
            pthread_cond_broadcast(&p->cv);
            break;
        }
        slot *sl = &p->ring[b % p->n_slots];
        sl->item = item;
        sl->state = SLOT_WORK;
        p->next_fetch++;
        pthread_mutex_unlock(&p->mu);

        qdb_err_clear(&le);
        s = p->f->work(p->user, wa->worker, b, item, &le);

        pthread_mutex_lock(&p->mu);
        sl->state = SLOT_DONE;
        if (s != QDB_OK)
            fail(p, s, &le);
        while (!p->stop && p->next_finish < p->next_fetch &&
               p->ring[p->next_finish % p->n_slots].state == SLOT_DONE) {
            slot *f = &p->ring[p->next_finish % p->n_slots];
            void *it = f->item;
            f->item = NULL;
            f->state = SLOT_EMPTY;
            qdb_err_clear(&le);
            s = p->f->finish(p->user, p->next_finish, it, &le);
            p->next_finish++;
            if (s != QDB_OK)
                fail(p, s, &le);
        }
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int qdb_pipeline_workers(void)
{
    int t = qdb_kernels_threads();
    return t > 1 ? t : 1;
}

qdb_status qdb_pipeline_run(int workers, const qdb_pipeline_fns *f, void *user, qdb_err *e)
{
    if (workers < 1)
        workers = 1;
    if (workers > 64)
        workers = 64;
    pipe_state p;
    memset(&p, 0, sizeof p);
    p.f = f;
    p.user = user;
    p.n_slots = 2 * workers;
    p.ring = calloc((size_t)p.n_slots, sizeof *p.ring);
    worker_arg *args = calloc((size_t)workers, sizeof *args);
    pthread_t *tid = calloc((size_t)workers, sizeof *tid);
    if (!p.ring || !args || !tid) {
        free(p.ring);
        free(args);
        free(tid);
        return qdb_err_set(e, QDB_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int saved_threads = qdb_kernels_threads();
    if (workers > 1)
        qdb_kernels_set_threads(1);
    int started = 0;
    for (int w = 1; w < workers; w++) {
        args[w].p = &p;
        args[w].worker = w;
        if (pthread_create(&tid[w], NULL, work_loop, &args[w]) != 0)
            break; /* fewer workers: still correct */
        started = w;
    }
    args[0].p = &p;
    args[0].worker = 0;
    work_loop(&args[0]);
    for (int w = 1; w <= started; w++)
        pthread_join(tid[w], NULL);
    if (workers > 1)
        qdb_kernels_set_threads(saved_threads);
    /* an error leaves items fetched but not finished */
    for (int i = 0; i < p.n_slots; i++)
        if (p.ring[i].item && f->discard)
            f->discard(user, p.ring[i].item);
    qdb_status st = p.st;
    if (st != QDB_OK && e)
        *e = p.err;
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.ring);
    free(args);
    free(tid);
    return st;
}
