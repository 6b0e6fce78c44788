#!/usr/bin/env python3
"""Fit the polynomial behind the runtime's `exp`: eʳ on |r| ≤ ln 2 / 2.

Usage (from the workspace root; needs numpy):

    /tmp/venv/bin/python tools/fit/exp.py

The polynomial is 1 + r + c₂r² + … + c₆r⁶ (the first two coefficients fixed, so that it is
exact at 0 and has the right slope there); c₂…c₆ minimise the largest relative error, by
least squares with Lawson's reweighting towards the minimax solution. Prints them rounded to
float32, highest first, and the error of the fit in float64.
"""

import math

import numpy as np

DEGREE = 6


def main():
    half = math.log(2.0) / 2.0
    r = np.linspace(-half, half, 20001)
    f = np.exp(r)
    powers = np.vstack([r**i for i in range(2, DEGREE + 1)]).T
    weights, best = np.ones_like(r), None
    for _ in range(200):
        scale = np.sqrt(weights) / f
        c, *_ = np.linalg.lstsq(powers * scale[:, None], (f - 1.0 - r) * scale, rcond=None)
        error = (1.0 + r + powers @ c - f) / f
        worst = np.abs(error).max()
        if best is None or worst < best[0]:
            best = (worst, c)
        weights = np.maximum(weights * np.abs(error), 1e-300)
        weights /= weights.mean()
    worst, c = best
    print(f"relative error of the fit: {worst:.2e}")
    for i in reversed(range(len(c))):
        print(f"c{i + 2} = {np.format_float_positional(np.float32(c[i]), unique=True)}")


if __name__ == "__main__":
    main()
