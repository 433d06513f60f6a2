#!/usr/bin/env python3
"""fit-gelu.py [erf|tanh] [DEGREE] [T]

Prints the float coefficients of the polynomial W that gelu_erf (erf) or gelu_tanh (tanh) in
ops/kernels/gemm_template.h uses where every lane of a vector has |x| <= T: W(s), s = T - |x|,
approximates the GELU's factor on the negative side, Phi(-|x|) for erf (Phi the normal
distribution function) or 1 / (1 + exp(2u)), u = sqrt(2/pi) (|x| + 0.044715 |x|^3), for tanh, for
the least maximum relative error, by iteratively reweighted least squares on Chebyshev nodes
(the GELU is then x W(s) for x < 0 and x (1 - W(s)) above). In s, which runs from the small end
of the factor, the terms add up without cancelling, so Horner's or Estrin's order in floats keeps
the relative accuracy that x < 0 needs. Prints the error of the float coefficients evaluated in
float32, s rounded as the kernel rounds it. Needs numpy (the project's .venv); a development
tool, never run by the build.
"""
import math
import sys

import numpy as np


def factor(form, v):
    """The GELU's factor at v <= 0, in double."""
    if form == "erf":
        return 0.5 * math.erfc(-v / math.sqrt(2))
    u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
    return 1 / (1 + math.exp(-2 * u))


def main():
    form = sys.argv[1] if len(sys.argv) > 1 else "erf"
    degree = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    t = float(sys.argv[3]) if len(sys.argv) > 3 else 2.5
    nodes = 3000
    k = np.arange(nodes)
    ss = t / 2 + t / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    fs = np.array([factor(form, s - t) for s in ss])
    vander = np.vander(ss, degree + 1, increasing=True)
    weights = 1 / fs
    for _ in range(40):
        coefs, *_ = np.linalg.lstsq(vander * weights[:, None], fs * weights, rcond=None)
        err = np.abs(vander @ coefs - fs) / fs
        weights = weights * (1 + 5 * err / err.max())
    c32 = coefs.astype(np.float32)
    ax = np.linspace(0, t, 40001).astype(np.float32)
    s = (np.float32(t) - ax).astype(np.float32)
    want = np.array([factor(form, -float(a)) for a in ax])
    got = np.full_like(s, c32[-1])
    for c in c32[-2::-1]:
        got = (got * s + c).astype(np.float32)
    print(f"{form}, degree {degree}, |x| <= {t}: max relative error {(np.abs(got - want) / want).max():.3g} (float)")
    for i, c in enumerate(c32):
        print(f"w{i} = {float(c)!r}f")


if __name__ == "__main__":
    main()
