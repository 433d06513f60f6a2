#!/usr/bin/env python3
"""fit-gelu.py erfcx|erf|tanh [DEGREE] [T]

Prints the float coefficients of the polynomials of the GELU kernels in
ops/kernels/gemm_template.h, each fitted for the least maximum relative error by iteratively
reweighted least squares on Chebyshev nodes, and that error with the coefficients rounded to
float:

erfcx (degree 8): F of erfc_nonnegative, erfc(z) = t F(t) exp(-z^2) with t = 1 / (1 + z/2),
  so F(t) = erfcx(z) / t, on t in [0.145, 1] (z from 0 to past 16 / sqrt 2, where the kernel
  clamps). In this form exp(-z^2) does not wait for the polynomial (in the Numerical Recipes
  form erfc(z) = t exp(-z^2 + P(t)) it does): the two run side by side.
erf, tanh (degree 10, T 2.5): W of gelu_near, for vectors whose every lane has |x| <= T: W(s),
  s = T - |x|, approximates the GELU's factor at -|x|, Phi(-|x|) (Phi the normal distribution
  function) or 1 / (1 + exp(2u)), u = sqrt(2/pi) (|x| + 0.044715 |x|^3); the GELU is then x W
  for x < 0 and x (1 - W) above. In s, which runs from the factor's small end, the terms add up
  without cancelling, so the relative accuracy x < 0 needs holds in floats (the error printed
  is W evaluated in float32, s rounded as the kernel rounds it).

Needs numpy and mpmath (both in the project's .venv, mpmath through torch:
.venv/bin/python tools/fit-gelu.py erf); a development tool, never run by the build.
"""
import math
import sys

import mpmath as mp
import numpy as np


def fit(lo, hi, target, degree, nodes=2000):
    """Coefficients (increasing powers) of the polynomial closest to target on [lo, hi] in
    maximum relative error."""
    k = np.arange(nodes)
    xs = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    fs = np.array([float(target(x)) for x in xs])
    vander = np.vander(xs, degree + 1, increasing=True)
    weights = 1 / fs
    for _ in range(40):
        coefs, *_ = np.linalg.lstsq(vander * weights[:, None], fs * weights, rcond=None)
        err = np.abs(vander @ coefs - fs) / fs
        weights = weights * (1 + 5 * err / err.max())
    return coefs


def erfcx_over_t(t):
    z = 2 * (1 / mp.mpf(t) - 1)
    return mp.erfc(z) * mp.exp(z * z) / t


def near_factor(form):
    def factor(v):  # the GELU's factor at v <= 0, in double
        if form == "erf":
            return 0.5 * math.erfc(-v / math.sqrt(2))
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
        return 1 / (1 + math.exp(-2 * u))
    return factor


def main():
    form = sys.argv[1] if len(sys.argv) > 1 else "erf"
    if form not in ("erfcx", "erf", "tanh"):
        sys.exit(__doc__)
    mp.mp.dps = 30
    if form == "erfcx":
        degree = int(sys.argv[2]) if len(sys.argv) > 2 else 8
        c32 = fit(0.145, 1.0, erfcx_over_t, degree).astype(np.float32)
        xs = np.linspace(0.145, 1.0, 4001)
        want = np.array([float(erfcx_over_t(t)) for t in xs])
        got = np.polyval(c32.astype(np.float64)[::-1], xs)
        label = f"erfcx, degree {degree}"
    else:
        degree = int(sys.argv[2]) if len(sys.argv) > 2 else 10
        t = float(sys.argv[3]) if len(sys.argv) > 3 else 2.5
        factor = near_factor(form)
        c32 = fit(0.0, t, lambda s: factor(s - t), degree).astype(np.float32)
        ax = np.linspace(0, t, 40001).astype(np.float32)
        s = (np.float32(t) - ax).astype(np.float32)
        want = np.array([factor(-float(a)) for a in ax])
        got = np.full_like(s, c32[-1])
        for c in c32[-2::-1]:
            got = (got * s + c).astype(np.float32)
        label = f"{form}, degree {degree}, |x| <= {t}"
    print(f"{label}: max relative error {(np.abs(got - want) / want).max():.3g} (float coefficients)")
    for i, c in enumerate(c32):
        print(f"c{i} = {float(c)!r}f")


if __name__ == "__main__":
    main()
