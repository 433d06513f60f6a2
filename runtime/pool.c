/* A small thread pool: workers sleep on a condition variable between jobs (no spinning CPU
 * burn while idle) and each job is split into one contiguous range per thread. */
#include "pool.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct worker_arg {
    pool *p;
    int index;
} worker_arg;

struct pool {
    mem *mem;
    int threads; /* including the caller */
    pthread_t *workers;
    worker_arg *args;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    uint64_t generation;
    int pending;
    bool stop;
    pool_job job;
};

static void run_share(const pool_job *job, int index, int threads)
{
    int64_t begin = job->n * index / threads, end = job->n * (index + 1) / threads;
    if (begin < end)
        job->fn(job->arg, index, begin, end);
}

static void *worker_main(void *raw)
{
    worker_arg wa = *(worker_arg *)raw;
    pool *p = wa.p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        pool_job job = p->job;
        pthread_mutex_unlock(&p->lock);
        run_share(&job, wa.index, p->threads);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

pool *pool_create(mem *m, int threads)
{
    if (threads < 2)
        return NULL;
    pool *p = mem_alloc(m, sizeof *p);
    if (!p)
        return NULL;
    p->mem = m;
    p->threads = threads;
    p->workers = mem_alloc(m, (size_t)threads * sizeof(pthread_t));
    p->args = mem_alloc(m, (size_t)threads * sizeof(worker_arg));
    if (!p->workers || !p->args) {
        mem_free(m, p->workers);
        mem_free(m, p->args);
        mem_free(m, p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < threads; i++) {
        p->args[i] = (worker_arg){p, i};
        if (pthread_create(&p->workers[i], NULL, worker_main, &p->args[i]) != 0) {
            p->threads = i; /* the workers started so far */
            pool_free(p);
            return NULL;
        }
    }
    return p;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    mem_free(p->mem, p->workers);
    mem_free(p->mem, p->args);
    mem_free(p->mem, p);
}

int pool_threads(const pool *p) { return p ? p->threads : 1; }

void pool_run(pool *p, const pool_job *job)
{
    if (!p || job->n < 2) {
        run_share(job, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->job = *job;
    p->pending = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_share(job, 0, p->threads);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
