#include "mt19937.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>

#define MT_M 397

void mt_seed(mt19937 *mt, uint32_t seed)
{
    mt->key[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++)
        mt->key[i] = 1812433253u * (mt->key[i - 1] ^ (mt->key[i - 1] >> 30)) + i;
    mt->pos = MT_N;
    mt->has_gauss = false;
    mt->gauss = 0;
}

static uint32_t mt_twist(uint32_t upper, uint32_t lower, uint32_t far)
{
    uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

uint32_t mt_next(mt19937 *mt)
{
    if (mt->pos == MT_N) {
        uint32_t *k = mt->key;
        int i = 0;
        for (; i < MT_N - MT_M; i++)
            k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M]);
        for (; i < MT_N - 1; i++)
            k[i] = mt_twist(k[i], k[i + 1], k[i + MT_M - MT_N]);
        k[MT_N - 1] = mt_twist(k[MT_N - 1], k[0], k[MT_M - 1]);
        mt->pos = 0;
    }
    uint32_t y = mt->key[mt->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

double mt_uniform(mt19937 *mt)
{
    uint32_t a = mt_next(mt) >> 5, b = mt_next(mt) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

double mt_gauss(mt19937 *mt)
{
    if (mt->has_gauss) {
        mt->has_gauss = false;
        return mt->gauss;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * mt_uniform(mt) - 1.0;
        x2 = 2.0 * mt_uniform(mt) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    mt->gauss = f * x1;
    mt->has_gauss = true;
    return f * x2;
}

/* numpy's binomial inversion for n = 1, on the smaller of p and 1 - p (the draw then
 * complemented), step for step: every p, 0 and 1 included, takes at least one draw, and
 * q^n is exp(n log q) as there, not q. */
int mt_bernoulli(mt19937 *mt, double p)
{
    bool flip = p > 0.5;
    double pp = flip ? 1.0 - p : p, q = 1.0 - pp, qn = exp(log(q));
    double np = pp, bound = fmin(1.0, np + 10.0 * sqrt(np * q + 1));
    int64_t limit = (int64_t)bound, x = 0;
    double px = qn, u = mt_uniform(mt);
    while (u > px) {
        x++;
        if (x > limit) {
            x = 0;
            px = qn;
            u = mt_uniform(mt);
        } else {
            u -= px;
            px = ((double)(1 - x + 1) * pp * px) / ((double)x * q);
        }
    }
    return flip ? (int)(1 - x) : (int)x;
}

uint32_t fresh_seed(void)
{
    static atomic_uint_fast64_t counter;
    uint64_t z = atomic_fetch_add(&counter, 1) + 0x9e3779b97f4a7c15u * (uint64_t)time(NULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u; /* splitmix64's finalizer */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (uint32_t)(z ^ (z >> 31));
}
