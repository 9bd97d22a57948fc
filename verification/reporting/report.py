"""Check results as data: one typed row per checked tensor, a report of rows, and
their renderings as a table and as JSON.

A row says what was compared (check name, tensor, shape, mode, dtype, step), how badly
(max abs error, max relative error ``|a - n| / max(|a|, |n|, floor)``, the numerical
error estimate and tolerance at the worst entry), where (the worst index, with the
analytic and numerical values there, labelled), what the kink handling found, and the
verdict. The worst entry is the one closest to failing: largest ``|a - n| / tolerance``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import DataFormatError, InvalidArgumentError
from verification.reporting.plot import plot_failures

__all__ = ["VERDICTS", "CheckRow", "Report"]

VERDICTS = ("pass", "subgradient", "inconclusive", "fail")
"""Row verdicts, from best to worst. ``subgradient``: passed, with some entries at a
relu kink accepted because the analytic value lies between the one-sided derivatives.
``inconclusive``: the numerical derivative could not decide (reported, counted as not
passed)."""

_PASSING = frozenset({"pass", "subgradient"})


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class CheckRow:
    """The result of checking one tensor (or one invariant) of one check.

    ``worst_index`` is the index inside the tensor (``()`` for scalars, ``None`` when
    nothing was compared); ``analytic`` and ``numeric`` are the values there;
    ``error_estimate`` and ``tolerance`` are at that entry too. ``ratio`` is ``|a - n| /
    tolerance`` there (<= 1 passes). ``kinks`` counts entries whose finite-difference
    stencil crossed a kink, ``kinks_resolved`` those that a smaller step moved away
    from it, ``subgradient`` those accepted between one-sided derivatives,
    ``failed_at_kink`` those left on a kink whose analytic value fell outside the
    one-sided derivatives, and ``moved`` how many of those were then re-checked at a
    point moved off the kinks (see :func:`verification.engine.network_check.check_network`).
    ``probes`` is the number of directions for directional mode (0 otherwise). ``hint``
    names the pattern of a failing tensor's errors (:mod:`verification.reporting.patterns`);
    ``errors`` is its signed relative error per entry in the tensor's shape (``nan`` where
    not compared), kept for :meth:`Report.plot` and not written to JSON.

        >>> from verification import CheckRow, check_network_case
        >>> row = check_network_case("2-3-1", "tanh", "mse").rows[0]
        >>> isinstance(row, CheckRow), row.verdict, row.ratio <= 1, row.dtype
        (True, 'pass', True, 'float64')
    """

    check: str
    tensor: str
    shape: tuple[int, ...]
    mode: str
    dtype: str
    verdict: str
    n_checked: int = 0
    step: float = math.nan
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    error_estimate: float = math.nan
    tolerance: float = math.nan
    ratio: float = 0.0
    worst_index: tuple[int, ...] | None = None
    analytic: float = math.nan
    numeric: float = math.nan
    n_failed: int = 0
    n_inconclusive: int = 0
    kinks: int = 0
    kinks_resolved: int = 0
    subgradient: int = 0
    failed_at_kink: int = 0
    moved: int = 0
    probes: int = 0
    seconds: float = 0.0
    note: str = ""
    hint: str = ""
    errors: NDArray[np.floating[Any]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidArgumentError(
                f"verdict: expected one of {VERDICTS}, got {self.verdict!r}"
            )

    @property
    def passed(self) -> bool:
        """True for ``pass`` and ``subgradient``."""
        return self.verdict in _PASSING

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become ``None``)."""
        out: dict[str, Any] = {}
        for key, value in asdict(replace(self, errors=None)).items():
            if key == "errors":
                continue
            if isinstance(value, float):
                out[key] = _clean(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> CheckRow:
        """Inverse of :meth:`to_dict`."""
        known = {f.name: f for f in fields(CheckRow)}
        unknown = set(data) - set(known)
        if unknown:
            raise DataFormatError(f"report row: unknown fields {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("shape", "worst_index"):
                values[key] = None if value is None else tuple(int(v) for v in value)
            elif known[key].type == "float":
                values[key] = math.nan if value is None else float(value)
            else:
                values[key] = value
        return CheckRow(**values)


@dataclass(frozen=True)
class Report:
    """An ordered collection of :class:`CheckRow` plus free-form metadata.

    What :func:`~verification.engine.gradients.check_gradients` and every other check
    return; ``print(report)`` shows the table with hints for failures:

        >>> import numpy as np
        >>> from verification import check_gradients
        >>> params = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
        >>> def loss_fn(p):
        ...     return float(p["a"] @ p["a"] + 5 * p["b"][0])
        >>> report = check_gradients(loss_fn, lambda p: {"a": 2 * p["a"], "b": np.array([4.0])},
        ...                          params)
        >>> report.passed, [(row.tensor, row.verdict) for row in report.failures]
        (False, [("params['b']", 'fail')])
        >>> report.summary()
        '2 rows: 1 pass, 1 fail -> FAILED'
    """

    rows: tuple[CheckRow, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every row passed (``pass`` or ``subgradient``)."""
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        """Rows that did not pass (``fail`` and ``inconclusive``)."""
        return tuple(row for row in self.rows if not row.passed)

    def __add__(self, other: Report) -> Report:
        return Report(self.rows + other.rows, {**self.meta, **other.meta})

    @staticmethod
    def combine(reports: Iterable[Report], meta: dict[str, Any] | None = None) -> Report:
        """One report with all rows, in order."""
        rows: list[CheckRow] = []
        merged: dict[str, Any] = {}
        for report in reports:
            rows.extend(report.rows)
            merged.update(report.meta)
        return Report(tuple(rows), {**merged, **(meta or {})})

    def named(self, check: str) -> Report:
        """The same rows with their ``check`` field set to ``check``."""
        return Report(tuple(replace(row, check=check) for row in self.rows), self.meta)

    def summary(self) -> str:
        """One line: counts per verdict and the overall result."""
        counts = {v: sum(row.verdict == v for row in self.rows) for v in VERDICTS}
        parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        result = "PASSED" if self.passed else "FAILED"
        return f"{len(self.rows)} rows: {parts or 'none'} -> {result}"

    def __str__(self) -> str:
        return self.table()

    def table(self, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text table, one line per row, then what the ``a`` and ``n``
        columns hold where a row's note says (``a = ...``: cross rows compare two
        implementations), the pattern hints of failing tensors, and the summary.
        Column ``failed`` is failed/compared entries."""
        headers = list(columns or _DEFAULT_COLUMNS)
        cells = [[_format(row, h) for h in headers] for row in self.rows]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
        legend = dict.fromkeys(
            row.note.split(";")[0] for row in self.rows if row.note.startswith("a = ")
        )
        if legend:
            lines.append("columns (analytic a, numeric n):")
            lines += [f"  {text}" for text in legend]
        hinted = [row for row in self.rows if row.hint]
        if hinted:
            lines.append("hints:")
            lines += [f"  {row.check} {row.tensor}: {row.hint}" for row in hinted]
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as a JSON document: ``{"passed", "summary", "meta", "rows"}``."""
        doc = {
            "format": "funcnn-verification-report/1",
            "passed": self.passed,
            "summary": self.summary(),
            "meta": self.meta,
            "rows": [row.to_dict() for row in self.rows],
        }
        return json.dumps(doc, indent=1, allow_nan=False)

    @staticmethod
    def from_json(text: str) -> Report:
        """Parse :meth:`to_json` output."""
        try:
            doc = json.loads(text)
            rows = tuple(CheckRow.from_dict(row) for row in doc["rows"])
            meta = dict(doc.get("meta", {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataFormatError(f"report: not a verification report JSON ({exc})") from exc
        return Report(rows, meta)

    def plot(self, path: str | Path, *, dpi: int = 100) -> Path:
        """Draw every failing tensor's signed relative error as a heat map, to the PNG
        ``path`` (written atomically; needs matplotlib, the ``plot`` extra). See
        :func:`verification.reporting.plot.plot_failures`."""
        return plot_failures(self.rows, path, dpi=dpi)

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


_DEFAULT_COLUMNS = (
    "check", "tensor", "shape", "mode", "dtype", "verdict", "failed", "max_abs", "max_rel",
    "err_est", "worst", "analytic", "numeric", "kinks", "time",
)


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return "-" if not math.isfinite(value) else f"{value:.2e}"


def _format(row: CheckRow, column: str) -> str:
    if column == "shape":
        return "x".join(str(s) for s in row.shape) or "()"
    if column == "n":
        return f"{row.n_checked}" + (f"/{row.probes}p" if row.probes else "")
    if column == "failed":
        return f"{row.n_failed}/{row.n_checked}" + (f" ({row.probes}p)" if row.probes else "")
    if column == "max_abs":
        return _num(row.max_abs_error)
    if column == "max_rel":
        return _num(row.max_rel_error)
    if column == "err_est":
        return _num(row.error_estimate)
    if column == "worst":
        return "-" if row.worst_index is None else str(list(row.worst_index))
    if column == "analytic":
        # A failing row's NaN analytic value is the finding, not a missing field.
        missing = math.isnan(row.analytic) and row.verdict == "fail"
        return "a=nan" if missing else f"a={_num(row.analytic)}"
    if column == "numeric":
        return f"n={_num(row.numeric)}"
    if column == "kinks":
        if not row.kinks and not row.moved:
            return "0"
        moved = f",{row.moved}m" if row.moved else ""
        return f"{row.kinks}({row.kinks_resolved}r,{row.subgradient}s{moved})"
    if column == "time":
        return f"{row.seconds:.2f}s"
    if column == "verdict":
        return row.verdict.upper() if not row.passed else row.verdict
    value = getattr(row, column)
    return str(value)
