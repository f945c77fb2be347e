"""Open-loop drift: every feature and the score of a window of traffic against the training data's stored Profile.

The monitor never sees the reference rows, only their Profile (drift.py): PSI over its decile bins, and a KS
statistic (the largest CDF difference) read at its finer CDF's percentiles. At a million rows any raw p-value
flags everything, and at 300 rows a fixed PSI band flags noise, so a feature drifts only when both hold:
- its statistic is improbable under no drift for this window's size and the reference's, after Holm's step-down
  correction over all the window's tests (the family-wise error rate stays at `alpha` across the features); the null
  distributions come from the reference itself: chi-square for PSI (n_eff * PSI ~ chi2(bins - 1)) where every bin
  expects enough rows, a Monte Carlo of the reference shares where it does not, and Kolmogorov's for KS;
- the statistic is at least a practical floor, a change large enough to matter whatever the window's size.

Pure numpy: the current window's numeric columns are bucketed against the stored edges through a lookup table on a
uniform grid (a multiply, a truncation and two gathers per value) instead of a sort or a binary search.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .drift import (
    CDF_POINTS,
    PSI_EPSILON,
    CategoricalProfile,
    ColumnProfile,
    FloatArray,
    JSONValue,
    NumericProfile,
    Profile,
    numeric_profile,
)

IntArray: TypeAlias = npt.NDArray[np.intp]
Statistic = Literal["psi", "ks"]
Critical: TypeAlias = Callable[[float], float]  # a test's level -> the value its statistic must reach there

# Cells of the uniform grid that maps a value to its bin: a cell holding two or more edges falls back to a binary
# search for its rows, so the grid is fine enough that only heavy tails or ties put several edges in one cell.
GRID_CELLS = 8192
# Cochran's rule: the chi-square law of PSI holds when every bin expects at least this many rows on both sides.
MIN_EXPECTED_ROWS = 5.0


class DriftInputError(ValueError):
    """A window that cannot be compared with the reference: a column of the wrong kind or a malformed array."""


@dataclass(frozen=True)
class DriftPolicy:
    """When a feature counts as drifted. The floors are sizes of change that matter, calibrated on nothing: PSI 0.01
    is a tenth of the usual 'watch' band and KS 0.01 a CDF that moved by one percentage point (a standard deviation
    grown by 10% moves a normal CDF by 2.3 points, a mean moved by 0.2 sigma by 8)."""

    alpha: float = 0.01  # family-wise error rate of one window, over all its features and statistics
    psi_floor: float = 0.01
    ks_floor: float = 0.01
    # Monte Carlo draws for a PSI whose bins expect too few rows for the chi-square law; the smallest tail it can give
    # is 1 / (draws + 1), which must stay below alpha / tests for Holm to reach it (2.8e-4 for 36 tests)
    simulations: int = 20_000
    seed: int = 0  # the Monte Carlo is seeded: the same window gives the same report


@dataclass(frozen=True)
class CategoricalValues:
    """A categorical column of the window as dictionary codes (as Arrow and Parquet hold it): -1 is missing."""

    codes: npt.NDArray[np.integer]
    categories: tuple[str, ...]

    @classmethod
    def from_values(cls, values: Sequence[str | None] | npt.NDArray[np.object_]) -> CategoricalValues:
        """Codes of plain values (None is missing); slower than passing the codes a columnar reader already has."""
        array = np.asarray(values, dtype=object)
        missing = np.fromiter((v is None for v in array), dtype=bool, count=len(array))
        categories, codes = np.unique(array[~missing].astype(str), return_inverse=True)
        full = np.full(len(array), -1, dtype=np.int64)
        full[~missing] = codes
        return cls(codes=full, categories=tuple(str(c) for c in categories))


WindowColumn: TypeAlias = npt.NDArray[np.floating] | npt.NDArray[np.integer] | CategoricalValues


@dataclass(frozen=True)
class DriftReference:
    """The reference of each monitored column: its profile and the number of rows it summarises."""

    columns: Mapping[str, ColumnProfile]
    rows: Mapping[str, int]

    @classmethod
    def from_profile(cls, profile: Profile, names: Sequence[str] | None = None) -> DriftReference:
        """The training dataset's profile (all its columns, or `names` only: the label is no feature to watch)."""
        chosen = list(profile.columns) if names is None else list(names)
        return cls({n: profile.columns[n] for n in chosen}, {n: profile.rows for n in chosen})

    def with_column(self, name: str, column: ColumnProfile, rows: int) -> DriftReference:
        """Another monitored column, e.g. the score, whose reference is the model's scores on its test split."""
        return DriftReference({**self.columns, name: column}, {**self.rows, name: rows})


def score_profile(scores: npt.ArrayLike, bins: int = 10, cdf_points: int = CDF_POINTS) -> NumericProfile:
    """The reference profile of a model's scores (e.g. on its test split), in the same format as a feature's."""
    values = np.asarray(scores, dtype=np.float64)
    missing = np.isnan(values)
    return numeric_profile(np.sort(values[~missing]), int(missing.sum()), bins, cdf_points)


# ---- results --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftTest:
    """One statistic of one column: its value, its null law's tail probability and what it was judged against."""

    statistic: Statistic
    value: float
    tail_probability: float  # P(statistic >= value | no drift) for this window's and the reference's sizes
    adjusted_probability: float  # Holm-adjusted over all tests of the window
    critical: float  # the value that would have been significant at this test's Holm level
    floor: float
    null: str  # how the tail was computed: "chi2(df=9)", "monte-carlo(20000)", "kolmogorov"
    significant: bool
    drifted: bool

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "statistic": self.statistic,
            "value": self.value,
            "tail_probability": self.tail_probability,
            "adjusted_probability": self.adjusted_probability,
            "threshold": max(self.critical, self.floor),
            "critical": self.critical,
            "floor": self.floor,
            "null": self.null,
            "significant": self.significant,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """A column's verdict, with the tests behind it and the bin that moved most (where a person should look)."""

    name: str
    kind: Literal["numeric", "categorical"]
    rows: int
    missing_share: float
    reference_missing_share: float
    tests: tuple[DriftTest, ...]
    worst_bin: str
    reference_share: float
    share: float

    @property
    def drifted(self) -> bool:
        return any(t.drifted for t in self.tests)

    @property
    def why(self) -> str:
        drifted = [t for t in self.tests if t.drifted]
        if drifted:
            return (
                "; ".join(
                    f"{t.statistic.upper()} {t.value:.4g} >= threshold {max(t.critical, t.floor):.4g} "
                    f"(calibrated {t.critical:.4g}, floor {t.floor:g}; Holm-adjusted p {t.adjusted_probability:.2g})"
                    for t in drifted
                )
                + f"; most moved: {self.worst_bin} from {self.reference_share:.2%} to {self.share:.2%}"
            )
        small = [t for t in self.tests if t.significant]
        if small:
            return "; ".join(
                f"{t.statistic.upper()} {t.value:.4g} is beyond noise (adjusted p {t.adjusted_probability:.2g}) "
                f"but below the floor {t.floor:g}"
                for t in small
            )
        return "within noise: " + ", ".join(
            f"{t.statistic.upper()} {t.value:.4g} < calibrated {t.critical:.4g}" for t in self.tests
        )

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "drifted": self.drifted,
            "why": self.why,
            "worst_bin": self.worst_bin,
            "reference_share": self.reference_share,
            "share": self.share,
            "tests": [t.to_dict() for t in self.tests],
        }


@dataclass(frozen=True)
class DriftReport:
    """The open-loop verdict of one window: each column's result and the family-wise policy they were judged by."""

    rows: int
    policy: DriftPolicy
    features: tuple[FeatureDrift, ...]
    skipped: tuple[str, ...] = field(default=())  # columns without a reference or absent from the window, and why

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "rows": self.rows,
            "drifted": list(self.drifted),
            "any_drift": bool(self.drifted),
            "tests": sum(len(f.tests) for f in self.features),
            "policy": {
                "alpha": self.policy.alpha,
                "correction": "holm",
                "psi_floor": self.policy.psi_floor,
                "ks_floor": self.policy.ks_floor,
            },
            "features": [f.to_dict() for f in self.features],
            "skipped": list(self.skipped),
        }


# ---- null laws ------------------------------------------------------------------------------------------------
def chi2_sf(x: float, df: int) -> float:
    """P(chi2(df) >= x) for an integer df, from the closed forms of the regularised upper gamma function."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        terms = [math.exp(-half + i * math.log(half) - math.lgamma(i + 1)) for i in range(df // 2)]
        return min(1.0, math.fsum(terms))
    terms = [math.exp(-half + (i - 0.5) * math.log(half) - math.lgamma(i + 0.5)) for i in range(1, (df + 1) // 2)]
    return min(1.0, math.erfc(math.sqrt(half)) + math.fsum(terms))


def kolmogorov_sf(lam: float) -> float:
    """P(K >= lam) for Kolmogorov's distribution (the limit of sqrt(n) * KS under no difference)."""
    if lam <= 0:
        return 1.0
    if lam < 1.0:  # the theta-function form converges fast for small lam, the alternating series for large lam
        s = math.fsum(math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam**2)) for k in range(1, 8))
        return max(0.0, 1.0 - math.sqrt(2 * math.pi) / lam * s)
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2 * k * k * lam * lam)
        total += term if k % 2 else -term
        if term < 1e-17 * total:
            break
    return max(0.0, min(1.0, 2 * total))


def _inverse(sf: Callable[[float], float], level: float, low: float, high: float) -> float:
    """The x where a decreasing tail function crosses `level`, by bisection (60 halvings: far below any use)."""
    while sf(high) > level and high < 1e12:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        if sf(middle) > level:
            low = middle
        else:
            high = middle
    return high


def holm(probabilities: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted probabilities: reject where adjusted <= alpha controls the family-wise error."""
    m = len(probabilities)
    order = sorted(range(m), key=lambda i: probabilities[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * probabilities[i]))
        adjusted[i] = running
    return adjusted


# ---- bucketing against stored edges ---------------------------------------------------------------------------
class _Bucketer:
    """Right-closed bins of ascending distinct `edges` for many values: bin i holds (edges[i-1], edges[i]].

    A monotone cell function c(x) = trunc(clip(x * scale - offset)) puts values and edges on one uniform grid.
    Monotonicity alone makes the table exact: an edge in an earlier cell is below x and one in a later cell is
    above it, so a cell's values need only its own edges, and a cell with one edge needs one comparison.
    """

    def __init__(self, edges: FloatArray, cells: int = GRID_CELLS) -> None:
        self.edges = edges
        self.bins = len(edges) + 1
        low, high = (float(edges[0]), float(edges[-1])) if len(edges) else (0.0, 0.0)
        span = high - low
        self.direct = len(edges) < 2 or not math.isfinite(span) or span <= 0 or not math.isfinite(cells / span)
        if self.direct:
            return
        self.scale = cells / span
        self.offset = low * self.scale - 1.0  # edges[0] in cell 1: cell 0 holds what lies below the grid
        self.top = float(cells + 1)
        edge_cells = self._cells(edges)
        all_cells = np.arange(cells + 2)
        self.base = np.searchsorted(edge_cells, all_cells, side="left").astype(np.intp)  # edges in earlier cells
        in_cell = np.searchsorted(edge_cells, all_cells, side="right") - self.base
        occupied, first_index = np.unique(edge_cells, return_index=True)  # edge_cells ascend: the first is smallest
        self.first = np.full(cells + 2, np.inf)  # a cell without an edge compares below +inf: no edge to pass
        self.first[occupied] = edges[first_index]
        self.crowded = in_cell >= 2
        self.any_crowded = bool(self.crowded.any())

    def _cells(self, values: FloatArray, scratch: FloatArray | None = None) -> IntArray:
        with np.errstate(over="ignore"):  # a value near the float maximum lands on +inf: the top cell, as it should
            grid = np.multiply(values, self.scale, out=scratch)
            grid -= self.offset
        np.clip(grid, 0.0, self.top, out=grid)
        cells: IntArray = grid.astype(np.intp)  # truncation is floor: the grid is non-negative after the clip
        return cells

    def counts(self, values: FloatArray, scratch: FloatArray | None = None) -> IntArray:
        """Rows in each bin (values are finite); `scratch`, a float buffer as long as values, saves an allocation."""
        if self.direct:
            index = np.searchsorted(self.edges, values, side="left")
        else:
            cells = self._cells(values, scratch)
            index = self.base[cells]  # fancy indexing: faster here than np.take into a buffer
            index += values > self.first[cells]
            if self.any_crowded:
                crowded = self.crowded[cells]
                if crowded.any():
                    index[crowded] = np.searchsorted(self.edges, values[crowded], side="left")
        counts: IntArray = np.bincount(index, minlength=self.bins)
        return counts


@dataclass(frozen=True)
class _NumericPlan:
    """What one numeric column is compared on, prepared from its reference profile alone."""

    bucketer: _Bucketer
    psi_at: IntArray  # index of each decile edge among the union of edges
    cdf_at: IntArray  # index of each CDF edge among the union
    reference_cdf: FloatArray  # share of the reference's finite values at or below each CDF edge
    cdf_source: str


def _numeric_plan(reference: NumericProfile) -> _NumericPlan:
    edges = np.asarray(reference.edges, dtype=np.float64)
    if reference.cdf_edges:
        cdf_edges = np.asarray(reference.cdf_edges, dtype=np.float64)
        reference_cdf = np.asarray(reference.cdf, dtype=np.float64)
        source = f"{len(cdf_edges)}-point CDF"
    else:  # an older profile: the decile bins are the only CDF it has (a coarser KS, never a larger one)
        cdf_edges = edges
        finite_share = max(1.0 - reference.null_share, 1e-300)
        reference_cdf = np.cumsum(np.asarray(reference.shares[:-1], dtype=np.float64)) / finite_share
        source = f"{len(cdf_edges)}-edge bins (profile without a finer CDF)"
    union = np.union1d(edges, cdf_edges)
    return _NumericPlan(
        bucketer=_Bucketer(union),
        psi_at=np.searchsorted(union, edges).astype(np.intp),
        cdf_at=np.searchsorted(union, cdf_edges).astype(np.intp),
        reference_cdf=reference_cdf,
        cdf_source=source,
    )


# ---- per-column statistics ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pending:
    """One statistic of a column before the family-wise correction decides on it."""

    statistic: Statistic
    value: float
    tail: float
    null: str
    floor: float
    critical: Critical


_Measured: TypeAlias = tuple[FeatureDrift, list[_Pending]]  # the column's result (its tests still empty), its stats


def _psi_terms(expected: FloatArray, actual: FloatArray) -> FloatArray:
    e = np.maximum(expected, PSI_EPSILON)
    a = np.maximum(actual, PSI_EPSILON)
    terms: FloatArray = (a - e) * np.log(a / e)
    return terms


def _psi_null(
    expected: FloatArray, rows: int, reference_rows: int, observed: float, policy: DriftPolicy
) -> tuple[float, str, Critical]:
    """Tail probability of an observed PSI under no drift, its null law's name and a level -> critical function."""
    support = expected > 0
    df = max(1, int(support.sum()) - 1)
    n_eff = rows * reference_rows / (rows + reference_rows)
    if float(expected[support].min(initial=1.0)) * min(rows, reference_rows) >= MIN_EXPECTED_ROWS:
        tail = chi2_sf(observed * n_eff, df)
        return tail, f"chi2(df={df})", lambda level: _inverse(lambda x: chi2_sf(x, df), level, 0.0, 10.0) / n_eff
    # Too few rows per bin for the chi-square law (a small window, a rare category): draw both sides' shares from
    # the reference's (Poisson counts, normalised) and read the tail off the simulated PSIs.
    rng = np.random.default_rng(policy.seed)
    draws = policy.simulations
    current = rng.poisson(expected * rows, size=(draws, len(expected))).astype(np.float64)
    reference = rng.poisson(expected * reference_rows, size=(draws, len(expected))).astype(np.float64)
    current /= np.maximum(current.sum(axis=1, keepdims=True), 1.0)
    reference /= np.maximum(reference.sum(axis=1, keepdims=True), 1.0)
    simulated = np.sort(_psi_terms(reference, current).sum(axis=1))
    beyond = draws - int(np.searchsorted(simulated, observed, side="left"))
    tail = (1 + beyond) / (draws + 1)

    def critical(level: float) -> float:
        return float(simulated[min(draws - 1, math.ceil((1 - level) * draws))])

    return tail, f"monte-carlo({draws})", critical


def _ks_null(rows: int, reference_rows: int, observed: float) -> tuple[float, str, Critical]:
    """Kolmogorov's law for the two-sample KS. Read at stored points and on tied data the statistic is smaller than
    the full KS, so this tail is conservative: it can miss a drift, not invent one."""
    root = math.sqrt(rows * reference_rows / (rows + reference_rows))
    return (
        kolmogorov_sf(root * observed),
        "kolmogorov",
        lambda level: _inverse(kolmogorov_sf, level, 0.0, 1.0) / root,
    )


def _measure_numeric(
    name: str,
    reference: NumericProfile,
    reference_rows: int,
    values: FloatArray,
    policy: DriftPolicy,
    scratch: FloatArray | None = None,
) -> _Measured:
    plan = _numeric_plan(reference)
    rows = len(values)
    finite = np.isfinite(values)
    present = int(np.count_nonzero(finite))
    if present < rows:
        values = values[finite]
    counts = plan.bucketer.counts(values, None if scratch is None else scratch[: len(values)])
    cumulative = np.cumsum(counts)
    # PSI over the reference's decile bins and a missing bin, as validation computes it
    at_psi_edges = cumulative[plan.psi_at]
    bin_counts = np.diff(np.concatenate(([0], at_psi_edges, [present]))).astype(np.float64)
    actual = np.append(bin_counts, rows - present) / max(rows, 1)
    expected = np.asarray([*reference.shares, reference.null_share], dtype=np.float64)
    terms = _psi_terms(expected, actual)
    psi_value = float(terms.sum())
    psi_tail, psi_null, psi_critical = _psi_null(expected, rows, reference_rows, psi_value, policy)
    pending = [_Pending("psi", psi_value, psi_tail, psi_null, policy.psi_floor, psi_critical)]
    reference_present = round(reference_rows * (1 - reference.null_share))
    if present and reference_present and len(plan.reference_cdf):
        current_cdf = cumulative[plan.cdf_at] / present
        ks_value = float(np.max(np.abs(current_cdf - plan.reference_cdf)))
        ks_tail, ks_null, ks_critical = _ks_null(present, reference_present, ks_value)
        pending.append(
            _Pending("ks", ks_value, ks_tail, f"{ks_null} at the {plan.cdf_source}", policy.ks_floor, ks_critical)
        )
    bounds = ["-inf", *(f"{edge:g}" for edge in reference.edges), "inf"]
    labels = [f"({bounds[i]}, {bounds[i + 1]}]" for i in range(len(bounds) - 1)] + ["missing"]
    worst = int(np.argmax(terms))
    feature = FeatureDrift(
        name=name,
        kind="numeric",
        rows=rows,
        missing_share=(rows - present) / rows if rows else 0.0,
        reference_missing_share=reference.null_share,
        tests=(),
        worst_bin=labels[worst],
        reference_share=float(expected[worst]),
        share=float(actual[worst]),
    )
    return feature, pending


def _measure_categorical(
    name: str, reference: CategoricalProfile, reference_rows: int, column: CategoricalValues, policy: DriftPolicy
) -> _Measured:
    codes = np.asarray(column.codes)
    rows = len(codes)
    counts = np.bincount(codes + 1, minlength=len(column.categories) + 1)  # code -1 (missing) is count 0
    if len(counts) > len(column.categories) + 1 or (rows and int(codes.min()) < -1):
        raise DriftInputError(f"{name!r} has codes outside -1..{len(column.categories) - 1}")
    current = {c: int(n) for c, n in zip(column.categories, counts[1:], strict=True) if n}
    values = sorted(set(reference.shares) | set(current))
    expected = np.asarray([reference.shares.get(v, 0.0) for v in values] + [reference.null_share])
    actual = np.asarray([current.get(v, 0) for v in values] + [int(counts[0])], dtype=np.float64) / max(rows, 1)
    terms = _psi_terms(expected, actual)
    value = float(terms.sum())
    tail, null, critical = _psi_null(expected, rows, reference_rows, value, policy)
    labels = [*values, "missing"]
    worst = int(np.argmax(terms))
    feature = FeatureDrift(
        name=name,
        kind="categorical",
        rows=rows,
        missing_share=float(counts[0]) / rows if rows else 0.0,
        reference_missing_share=reference.null_share,
        tests=(),
        worst_bin=labels[worst],
        reference_share=float(expected[worst]),
        share=float(actual[worst]),
    )
    return feature, [_Pending("psi", value, tail, null, policy.psi_floor, critical)]


# ---- the check ------------------------------------------------------------------------------------------------
def check_drift(
    reference: DriftReference, window: Mapping[str, WindowColumn], policy: DriftPolicy | None = None
) -> DriftReport:
    """Drift of every referenced column of `window` (numeric arrays with NaN for missing, categorical codes)."""
    policy = policy or DriftPolicy()
    measured: list[_Measured] = []
    skipped: list[str] = []
    scratch: FloatArray | None = None
    lengths = {len(c.codes) if isinstance(c, CategoricalValues) else len(c) for c in window.values()}
    if len(lengths) > 1:
        raise DriftInputError(f"the window's columns differ in length: {sorted(lengths)}")
    for name, profile in reference.columns.items():
        column = window.get(name)
        if column is None:
            skipped.append(f"{name}: not in the window")
            continue
        if len(column.codes if isinstance(column, CategoricalValues) else column) == 0:
            skipped.append(f"{name}: the window has no rows")
            continue
        rows = reference.rows[name]
        if isinstance(profile, NumericProfile):
            if isinstance(column, CategoricalValues):
                raise DriftInputError(f"{name!r} is numeric in the reference but categorical in the window")
            values = np.asarray(column, dtype=np.float64)
            if scratch is None or len(scratch) < len(values):
                scratch = np.empty(len(values))  # one buffer for every column: a fresh one per column costs page faults
            measured.append(_measure_numeric(name, profile, rows, values, policy, scratch))
        else:
            if not isinstance(column, CategoricalValues):
                raise DriftInputError(f"{name!r} is categorical in the reference: pass CategoricalValues")
            measured.append(_measure_categorical(name, profile, rows, column, policy))
    skipped += [f"{name}: no reference" for name in window if name not in reference.columns]
    tails = [p.tail for _, pending in measured for p in pending]
    adjusted = holm(tails)
    order = sorted(range(len(tails)), key=lambda i: tails[i])
    holm_level = {i: policy.alpha / (len(tails) - rank) for rank, i in enumerate(order)}
    features: list[FeatureDrift] = []
    index = 0
    for feature, pending in measured:
        tests = []
        for p in pending:
            significant = adjusted[index] <= policy.alpha
            tests.append(
                DriftTest(
                    statistic=p.statistic,
                    value=p.value,
                    tail_probability=p.tail,
                    adjusted_probability=adjusted[index],
                    critical=float(p.critical(holm_level[index])),
                    floor=p.floor,
                    null=p.null,
                    significant=significant,
                    drifted=significant and p.value >= p.floor,
                )
            )
            index += 1
        features.append(replace(feature, tests=tuple(tests)))
    return DriftReport(rows=next(iter(lengths), 0), policy=policy, features=tuple(features), skipped=tuple(skipped))


# ---- the score histogram -------------------------------------------------------------------------------------
def score_histogram(edges: Sequence[float], reference: Sequence[float], scores: npt.ArrayLike) -> dict[str, Any]:
    """The window's share of scores in each of the reference's right-closed bins (-inf, e0], (e0, e1], ...,
    (e_last, inf), beside the reference's shares: the report's "reference vs current" plot."""
    values = np.asarray(scores, dtype=np.float64)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left"), minlength=len(edges) + 1
    )
    total = max(int(counts.sum()), 1)
    return {
        "edges": [float(e) for e in edges],
        "reference": [float(s) for s in reference],
        "current": [float(c) / total for c in counts] if len(values) else [0.0] * (len(edges) + 1),
    }
