/* A small thread pool. A job is split into one contiguous range (share) per thread, and each
 * share is claimed by whoever gets to it first: the caller runs share 0, then any share a
 * worker has not started, so a worker that lost its core to another process delays nothing
 * (the job's function is told the share's index, so per-share scratch stays private). Between
 * the jobs of one run (steps a few microseconds apart) workers wait spinning, for at most
 * SPIN_NS; then they sleep on a condition variable, so an idle session burns no CPU. */
#include "pool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long a worker waits for the next job before going to sleep. */
#define SPIN_NS 50000

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
    _Atomic bool caller_sleeps; /* the caller blocked (or about to block) on `done` */
    _Atomic uint64_t generation; /* one more per job; the job is published before it */
    _Atomic int next;            /* the next share to claim (>= threads: all claimed) */
    _Atomic int pending;         /* shares of the current job not finished yet */
    _Atomic int sleepers;        /* workers blocked (or about to block) on `wake` */
    _Atomic bool stop;
    pool_job job;
};

static void run_share(const pool_job *job, int index, int threads)
{
    int64_t begin = job->n * index / threads, end = job->n * (index + 1) / threads;
    if (begin < end)
        job->fn(job->arg, index, begin, end);
}

/* Runs shares of the current job until none is left to claim; whether this thread finished the
 * job's last share. A share claimed is one the job's publication happened before (`next` is
 * reset after the job is written), so p->job is read whole. */
static bool claim_shares(pool *p)
{
    bool last = false;
    for (int share; (share = atomic_fetch_add(&p->next, 1)) < p->threads;) {
        run_share(&p->job, share, p->threads);
        last = atomic_fetch_sub(&p->pending, 1) == 1;
    }
    return last;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until ready(p) or SPIN_NS pass; whether it became ready. */
static bool spin_until(pool *p, bool (*ready)(pool *p, uint64_t arg), uint64_t arg)
{
    int64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        if (ready(p, arg))
            return true;
        if (spins % 256 == 255) {
            int64_t now = now_ns();
            if (!deadline)
                deadline = now + SPIN_NS;
            else if (now > deadline)
                return false;
        }
        cpu_relax();
    }
}

static bool job_posted(pool *p, uint64_t seen)
{
    return atomic_load(&p->generation) != seen || atomic_load(&p->stop);
}

static bool job_done(pool *p, uint64_t unused)
{
    (void)unused;
    return atomic_load(&p->pending) == 0;
}

/* The generation after `seen`, once there is one (or `seen` when stopping). */
static uint64_t wait_for_job(pool *p, uint64_t seen)
{
    if (spin_until(p, job_posted, seen))
        return atomic_load(&p->generation);
    /* Sleep. The job poster reads `sleepers` after bumping the generation, and we read the
     * generation after counting ourselves as sleeping (both sequentially consistent): either
     * it sees us and signals under the lock, or we see its job and do not wait. */
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *raw)
{
    worker_arg wa = *(worker_arg *)raw;
    pool *p = wa.p;
    uint64_t seen = 0;
    (void)wa.index; /* shares are claimed, not assigned */
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load(&p->stop))
            break;
        if (claim_shares(p) && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
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
    atomic_init(&p->next, threads); /* nothing to claim before the first job */
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
    atomic_store(&p->stop, true);
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
    p->job = *job;
    atomic_store(&p->pending, p->threads);
    atomic_store(&p->next, 0);           /* shares may be claimed from here on */
    atomic_fetch_add(&p->generation, 1); /* wakes the workers */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    if (claim_shares(p))
        return;
    /* The shares others run take about as long as ours: wait spinning, then asleep. */
    if (spin_until(p, job_done, 0))
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeps, true);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeps, false);
    pthread_mutex_unlock(&p->lock);
}
