#!/usr/bin/env python3
"""Polynomial coefficients for the vectorised erfc in cpu/hwy_math-inl.h (run with Debian's python3 + mpmath).

For z >= 0 write erfc(z) = t * exp(-z^2) * G(y) with t = 2 / (2 + z) and y = 2 t - 1 in (-1, 1] (the change of
variable of Numerical Recipes 3rd ed., section 6.2.2, `Erf::erfccheb`, which expands log G instead). G is smooth
on [-1, 1], from G(1) = 1 at z = 0 to G(-1) = 1 / (2 sqrt(pi)) as z -> inf, so a short Chebyshev series reaches
full precision. The coefficients are computed here from scratch: Chebyshev interpolation of G at N = 64 nodes in
50-digit arithmetic, truncated where the tail sum drops below the target (f32: 12 terms, tail ~5e-9; f64: 28
terms, tail ~3e-18), then converted to monomial coefficients in y for Horner's rule. The conversion is benign here:
sum |a_k| is printed and stays ~2, so Horner's rounding error stays a few ulp.

Usage: python3 tools/reference/erfc_chebyshev.py   (paste the two arrays into cpu/hwy_math-inl.h)
"""
import mpmath as mp

mp.mp.dps = 50
N = 64


def g_of_y(y):
    t = (y + 1) / 2
    z = 2 / t - 2
    return mp.erfc(z) * mp.exp(z * z) / t  # no underflow: mpmath's range is unbounded


def chebyshev(n_nodes):
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes)]
    values = [g_of_y(y) for y in nodes]
    return [2 * mp.fsum(values[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n_nodes) for k in range(n_nodes)) /
            n_nodes for j in range(n_nodes)]


def to_monomial(c, terms):
    """c0 / 2 + sum_{k=1}^{terms-1} c_k T_k(y) as sum_k a_k y^k (T_{k+1} = 2 y T_k - T_{k-1})."""
    t_prev, t_cur = [mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]
    a = [mp.mpf(0)] * terms
    a[0] = c[0] / 2
    for k in range(1, terms):
        for i, v in enumerate(t_cur):
            a[i] += c[k] * v
        t_next = [mp.mpf(0)] * (len(t_cur) + 1)
        for i, v in enumerate(t_cur):
            t_next[i + 1] += 2 * v
        for i, v in enumerate(t_prev):
            t_next[i] -= v
        t_prev, t_cur = t_cur, t_next
    return a


def main():
    c = chebyshev(N)
    for name, terms in (("kErfcPolyF32", 12), ("kErfcPolyF64", 28)):
        tail = mp.fsum(abs(x) for x in c[terms:])
        a = to_monomial(c, terms)
        print(f"// {terms} terms, truncation error <= {mp.nstr(tail, 3)}, sum |a_k| = {mp.nstr(mp.fsum(abs(x) for x in a), 4)}")
        print(f"constexpr double {name}[{terms}] = {{")
        for x in a:
            print(f"    {float(x)!r},")
        print("};")


if __name__ == "__main__":
    main()
