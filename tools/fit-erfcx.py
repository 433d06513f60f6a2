#!/usr/bin/env python3
"""fit-erfcx.py [DEGREE]

Prints the float coefficients of the polynomial F that gelu_erf in ops/kernels/gemm_template.h
uses: erfc(z) = t F(t) exp(-z^2) with t = 1 / (1 + z/2), so F(t) = erfcx(z) / t, fitted on
t in [0.145, 1] (z from 0 to past 16 / sqrt 2, where the kernel clamps) for the least maximum
relative error, by iteratively reweighted least squares on Chebyshev nodes. Also prints that
error, in double and with the coefficients rounded to float.

The point of the form: exp(-z^2) no longer waits for the polynomial (in the Numerical Recipes
form erfc(z) = t exp(-z^2 + P(t)) it does), so the two run side by side, and the chain of
dependent instructions per vector is about half as long. Needs numpy and mpmath (both in the
project's .venv, mpmath through torch: .venv/bin/python tools/fit-erfcx.py); a development tool,
never run by the build.
"""
import sys

import mpmath as mp
import numpy as np

LO, HI = 0.145, 1.0


def target(t):
    z = 2 * (1 / mp.mpf(t) - 1)
    return mp.erfc(z) * mp.exp(z * z) / t


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    mp.mp.dps = 30
    nodes = 2000
    k = np.arange(nodes)
    ts = (LO + HI) / 2 + (HI - LO) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    fs = np.array([float(target(t)) for t in ts])
    vander = np.vander(ts, degree + 1, increasing=True)
    weights = 1 / fs
    for _ in range(30):
        coefs, *_ = np.linalg.lstsq(vander * weights[:, None], fs * weights, rcond=None)
        err = np.abs(vander @ coefs - fs) / fs
        weights = weights * (1 + 5 * err / err.max())
    check = np.linspace(LO, HI, 4001)
    want = np.array([float(target(t)) for t in check])
    for name, c in (("double", coefs), ("float", coefs.astype(np.float32).astype(np.float64))):
        err = np.abs(np.polyval(c[::-1], check) - want) / want
        print(f"degree {degree}, {name} coefficients: max relative error {err.max():.3g}")
    for i, c in enumerate(coefs.astype(np.float32)):
        print(f"c{i} = {float(c)!r}f")


if __name__ == "__main__":
    main()
