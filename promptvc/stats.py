"""Statistics for experiment reports: Welch's t-test, two-proportion z-test, intervals.

Self-contained (no SciPy): the Student t distribution through the regularized incomplete
beta function (Lentz's continued fraction), the normal through math.erf.

Layer: a leaf (the standard library's math only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 3e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
          + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(ln)
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    if df <= 0 or math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile(p: float, df: float) -> float:
    """The t value with two-sided tail probability 1 - p (e.g. p=0.95 -> ~1.96 for large df)."""
    target = 1 - p
    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass
class Moments:
    n: int
    total: float
    total_sq: float
    vmin: float = 0.0
    vmax: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def variance(self) -> float:
        if self.n < 2:
            return float("nan")
        var = (self.total_sq - self.total * self.total / self.n) / (self.n - 1)
        return max(var, 0.0)

    @property
    def is_rate(self) -> bool:
        """Every value is 0 or 1 (for values in [0, 1], v*v == v only at 0 and 1)."""
        return (self.n > 0 and self.vmin >= 0 and self.vmax <= 1
                and abs(self.total_sq - self.total) < 1e-9 * max(1.0, self.n))

    def ci95(self) -> tuple[float, float]:
        if self.n < 2:
            return (float("nan"), float("nan"))
        half = t_quantile(0.95, self.n - 1) * math.sqrt(self.variance / self.n)
        return (self.mean - half, self.mean + half)


def welch(a: Moments, b: Moments) -> tuple[float, float, float]:
    """(difference b - a, t, two-sided p) of Welch's unequal-variances t-test."""
    diff = b.mean - a.mean
    if a.n < 2 or b.n < 2:
        return diff, float("nan"), float("nan")
    va, vb = a.variance / a.n, b.variance / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, (0.0 if diff == 0 else math.copysign(math.inf, diff)), (1.0 if diff == 0 else 0.0)
    t = diff / se
    df = (va + vb) ** 2 / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1)) if va or vb else 1.0
    return diff, t, t_two_sided_p(t, df)


def two_proportions(a: Moments, b: Moments) -> tuple[float, float, float]:
    """(difference of rates b - a, z, two-sided p), pooled two-proportion z-test."""
    if a.n == 0 or b.n == 0:
        return float("nan"), float("nan"), float("nan")
    pa, pb = a.total / a.n, b.total / b.n
    pooled = (a.total + b.total) / (a.n + b.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
    if se == 0:
        return pb - pa, 0.0, 1.0
    z = (pb - pa) / se
    return pb - pa, z, normal_two_sided_p(z)


def proportion_ci95(m: Moments) -> tuple[float, float]:
    """Wilson score interval."""
    if m.n == 0:
        return (float("nan"), float("nan"))
    z = 1.959963984540054
    p = m.total / m.n
    denom = 1 + z * z / m.n
    centre = (p + z * z / (2 * m.n)) / denom
    half = z * math.sqrt(p * (1 - p) / m.n + z * z / (4 * m.n * m.n)) / denom
    return (centre - half, centre + half)
