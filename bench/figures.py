"""Benchmark figures and the one table ``make bench`` prints.

A :class:`Figure` is one measured value beside its reference (measured in the same run) and
the target issue 12 sets, either on the ratio value / reference or on the value itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Op(Enum):
    AT_LEAST = "≥"
    AT_MOST = "≤"
    EQUAL = "="

    def holds(self, measured: float, bound: float) -> bool:
        if self is Op.AT_LEAST:
            return measured >= bound
        if self is Op.AT_MOST:
            return measured <= bound
        return measured == bound


@dataclass(frozen=True)
class Target:
    """``op bound`` on the ratio (``on_ratio``) or on the value in its unit."""

    op: Op
    bound: float
    on_ratio: bool = True

    def describe(self, unit: str) -> str:
        if self.on_ratio:
            return f"ratio {self.op.value} {self.bound:g}"
        return f"{self.op.value} {self.bound:g} {unit}".rstrip()


def at_least(bound: float) -> Target:
    return Target(Op.AT_LEAST, bound)


def at_most(bound: float) -> Target:
    return Target(Op.AT_MOST, bound)


def equal(bound: float) -> Target:
    return Target(Op.EQUAL, bound)


def value_at_most(bound: float) -> Target:
    return Target(Op.AT_MOST, bound, on_ratio=False)


@dataclass(frozen=True)
class Figure:
    """One row: ``value`` (Certkeeper's) and ``reference`` in ``unit``; ``reference_name``
    says what the reference is (the floor client, certbot, raw SQL...)."""

    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference

    @property
    def met(self) -> bool | None:
        """None: no target, or a ratio target without a reference."""
        if self.target is None:
            return None
        measured = self.ratio if self.target.on_ratio else self.value
        if measured is None:
            return None
        return self.target.op.holds(round(measured, 2), self.target.bound)


HEADINGS = ("figure", "Certkeeper", "reference", "ratio", "target", "met?")


def _number(value: float, unit: str) -> str:
    digits = 0 if abs(value) >= 100 or float(value).is_integer() else 2 if abs(value) < 10 else 1
    return f"{value:,.{digits}f} {unit}".rstrip()


def cells(figure: Figure) -> tuple[str, ...]:
    reference = "-"
    if figure.reference is not None:
        reference = _number(figure.reference, figure.unit)
        if figure.reference_name:
            reference += f" ({figure.reference_name})"
    ratio = figure.ratio
    met = {None: "-", True: "yes", False: "NO"}[figure.met]
    return (
        figure.name,
        _number(figure.value, figure.unit),
        reference,
        "-" if ratio is None else f"{ratio:.2f}",
        "-" if figure.target is None else figure.target.describe(figure.unit),
        met,
    )


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table (readable as text, and pasted as it is into docs/benchmarks.md)."""
    rows = [HEADINGS, *(cells(f) for f in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADINGS))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])
