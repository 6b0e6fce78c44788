#!/usr/bin/env python3
"""Fit the rational approximation behind the runtime's GELU, and check it in float32.

Usage (from the workspace root; needs numpy and scipy):

    /tmp/venv/bin/python tools/fit/gelu_erf.py

GELU(x) = x/2 · (1 + erf(x/√2)). The runtime computes it as h + h·e with h = x/2 and
e = c·R(c²) ≈ erf(c/√2), where c is x clamped to ±4√2 (beyond it erf(c/√2) rounds to ±1
in float32) and R = P/Q, P of degree 5 and Q of degree 5 with Q(0) = 1.

The fit: erf(u)/u as a rational function of u² on 0 < u ≤ 4, weighted so that the absolute
error of erf is minimised, by linearised least squares (Sanathanan–Koerner) with Lawson's
reweighting towards the minimax solution. The coefficients are then rescaled from u = x/√2
to x itself and rounded to float32.

Prints the coefficients as Rust constants, the fit's error in float64, and the worst error of
GELU evaluated as the runtime does (float32, fused multiply-adds) against float64 on
-13 ≤ x ≤ 13, as a multiple of |x|.
"""

import math

import numpy as np
from scipy.special import erf
from scipy.stats import norm

P_DEGREE, Q_DEGREE = 5, 5
LIMIT = 4.0


def fit(iterations=100):
    u = np.linspace(1e-6, LIMIT, 20000)
    s = u * u
    f = erf(u) / u
    weights, q_prev, best = np.ones_like(u), np.ones_like(u), None
    for _ in range(iterations):
        # Unknowns a_0..a_p, b_1..b_q: P(s) - f·(Q(s) - 1) = f, rows scaled to erf's error.
        powers_p = np.vstack([s**i for i in range(P_DEGREE + 1)]).T
        powers_q = np.vstack([s**j for j in range(1, Q_DEGREE + 1)]).T
        a_matrix = np.hstack([powers_p, -f[:, None] * powers_q])
        scale = (np.sqrt(weights) / np.abs(q_prev) * u)[:, None]
        solution, *_ = np.linalg.lstsq(a_matrix * scale, f * scale[:, 0], rcond=None)
        a = solution[: P_DEGREE + 1]
        b = np.concatenate([[1.0], solution[P_DEGREE + 1 :]])
        p = sum(a[i] * s**i for i in range(P_DEGREE + 1))
        q = sum(b[j] * s**j for j in range(Q_DEGREE + 1))
        error = u * p / q - erf(u)
        worst = np.abs(error).max()
        if best is None or worst < best[0]:
            best = (worst, a, b)
        q_prev = q
        weights = np.maximum(weights * np.abs(error), 1e-300)
        weights /= weights.mean()
    return best


def fma(a, b, c):
    # Exact product of two float32 in float64, one rounding of the sum to float32 (up to a
    # double rounding, which does not matter at this size).
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


def gelu32(x, p, q):
    x = np.float32(x)
    half = np.float32(0.5) * x
    limit = np.float32(LIMIT * math.sqrt(2.0))
    c = np.float32(min(max(x, -limit), limit))
    s = np.float32(c * c)
    num, den = p[-1], q[-1]
    for coefficient in reversed(p[:-1]):
        num = fma(num, s, coefficient)
    for coefficient in reversed(q[:-1]):
        den = fma(den, s, coefficient)
    e = np.float32(np.float32(c * num) / den)
    return fma(half, e, half)


def rust_literal(value):
    """The shortest decimal that rounds to this float32, digits grouped as rustfmt leaves them."""
    text = np.format_float_scientific(np.float32(value), unique=True, trim="-")
    mantissa, exponent = text.split("e")
    exponent = int(exponent)
    if -3 <= exponent < 0 or exponent == 0:
        text = np.format_float_positional(np.float32(value), unique=True, trim="-")
        whole, _, fraction = text.partition(".")
        suffix = ""
    else:
        whole, _, fraction = mantissa.partition(".")
        suffix = f"e{exponent}"
    groups = [fraction[i : i + 3] for i in range(0, len(fraction), 3)]
    return whole + ("." + "_".join(groups) if fraction else ".0") + suffix


def main():
    worst_fit, a, b = fit()
    # erf(x/√2) = (x/√2)·P(x²/2)/Q(x²/2): fold the √2 into the coefficients.
    p = [np.float32(a[i] / 2**i / math.sqrt(2.0)) for i in range(P_DEGREE + 1)]
    q = [np.float32(b[j] / 2**j) for j in range(Q_DEGREE + 1)]
    print(f"fit of erf on (0, {LIMIT}]: max abs error {worst_fit:.2e} (float64)")
    print("const P: [f32; %d] = [%s];" % (len(p), ", ".join(rust_literal(c) for c in p)))
    print("const Q: [f32; %d] = [%s];" % (len(q), ", ".join(rust_literal(c) for c in q)))
    worst, at = 0.0, None
    for x in np.linspace(-13.0, 13.0, 260001):
        x32 = float(np.float32(x))
        if x32 == 0.0:
            continue
        want = x32 * norm.cdf(x32)
        ratio = abs(float(gelu32(x32, p, q)) - want) / abs(x32)
        if ratio > worst:
            worst, at = ratio, x32
    print(f"GELU in float32: worst |error| / |x| = {worst:.3e} (at x = {at:.4f})")
    print(f"GELU(-13) = {float(gelu32(-13.0, p, q))!r}, GELU(13) = {float(gelu32(13.0, p, q))!r}")


if __name__ == "__main__":
    main()
