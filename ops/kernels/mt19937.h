/* MT19937 (Matsumoto and Nishimura, 1998) and the draws numpy's legacy RandomState makes from
 * it, so that an operator given a `seed` draws what ONNX's reference implementation draws
 * (np.random.RandomState(seed).random_sample / randn / binomial). Without a seed, ONNX leaves
 * the seed to the runtime: fresh_seed gives one that differs between calls and processes. */
#ifndef ONYX_MT19937_H
#define ONYX_MT19937_H

#include <stdbool.h>
#include <stdint.h>

#define MT_N 624

typedef struct mt19937 {
    uint32_t key[MT_N];
    int pos;
    bool has_gauss; /* mt_gauss: the second value of the last pair, kept for the next call */
    double gauss;
} mt19937;

/* numpy's RandomState(seed) for an integer seed in [0, 2^32). */
void mt_seed(mt19937 *mt, uint32_t seed);
uint32_t mt_next(mt19937 *mt);
/* Uniform in [0, 1) with 53 random bits from two outputs (random_sample). */
double mt_uniform(mt19937 *mt);
/* Standard normal by the polar method, pairs cached as numpy's legacy gauss (randn). */
double mt_gauss(mt19937 *mt);
/* One draw of binomial(1, p) as numpy's legacy binomial makes it (inversion), p in [0, 1]. */
int mt_bernoulli(mt19937 *mt, double p);
/* A seed for a node without one. */
uint32_t fresh_seed(void);

#endif
