#!/usr/bin/env python3
"""Chebyshev coefficients for the vectorised erfc in cpu/hwy_math-inl.h (run with Debian's python3 + mpmath).

For z >= 0 write erfc(z) = t * exp(-z^2) * exp(S(y)) with t = 2 / (2 + z) and y = 2 t - 1 in (-1, 1]
(the change of variable of Numerical Recipes 3rd ed., section 6.2.2, `Erf::erfccheb`). S is smooth on [-1, 1]
(S(1) = 0 at z = 0, S(-1) = log(1 / (2 sqrt(pi))) as z -> inf), so a short Chebyshev series
S(y) = c0 / 2 + sum_{k>=1} c_k T_k(y) reaches full precision. The coefficients are computed here from scratch by
Chebyshev interpolation at N = 64 nodes in 50-digit arithmetic and truncated where the tail sum drops below the
target: f32 keeps 14 terms (tail ~1.4e-9), f64 keeps 28 (tail ~3e-18).

Usage: python3 tools/reference/erfc_chebyshev.py  > paste the two arrays into cpu/hwy_math-inl.h
"""
import mpmath as mp

mp.mp.dps = 50
N = 64


def s_of_y(y):
    t = (y + 1) / 2
    z = 2 / t - 2
    # erfc(z) * exp(z^2) computed without underflow for large z.
    return mp.log(mp.erfc(z) * mp.exp(z * z) / t)


def chebyshev(n_nodes):
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes)]
    values = [s_of_y(y) for y in nodes]
    return [2 * mp.fsum(values[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes)) /
            n_nodes for j in range(n_nodes)]


def main():
    c = chebyshev(N)
    for name, terms in (("kErfcChebF32", 14), ("kErfcChebF64", 28)):
        tail = mp.fsum(abs(x) for x in c[terms:])
        print(f"// {terms} terms, truncation error <= {mp.nstr(tail, 3)}")
        print(f"constexpr double {name}[{terms}] = {{")
        for j in range(terms):
            print(f"    {float(c[j])!r},")
        print("};")


if __name__ == "__main__":
    main()
