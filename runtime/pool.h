/* A thread pool that sleeps when idle. One job at a time: [0, n) is split into one contiguous
 * range per thread (the caller's thread included), so a job's split depends only on n and
 * the thread count. */
#ifndef ONYX_POOL_H
#define ONYX_POOL_H

#include "ir.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct pool pool;

typedef struct pool_job {
    void (*fn)(void *arg, int thread, int64_t begin, int64_t end);
    void *arg;
    int64_t n;
} pool_job;

/* NULL when threads < 2 (run everything on the caller) or when threads cannot be started.
 * Its memory comes from `m`, which must outlive it. */
pool *pool_create(mem *m, int threads);
void pool_free(pool *p);
int pool_threads(const pool *p);
/* Runs the job to completion; the caller's thread takes the first range. */
void pool_run(pool *p, const pool_job *job);

#endif
