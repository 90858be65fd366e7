"""A validation report: errors (the import is refused), repairs and warnings, for a person to read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "repaired", "warning"]


@dataclass(frozen=True)
class Tolerances:
    """Thresholds of the overlap, gap and containment checks (metric CRS)."""

    overlap_m2: float = 1.0  # two cells may share this much area (digitising noise)
    gap_m2: float = 1.0  # an uncovered piece this small is ignored
    gap_width_m: float = 2.0  # an open sliver narrower than this between cells counts as a gap
    outside_m2: float = 1.0  # a cell may stick out of its parent by this much


@dataclass(frozen=True)
class Issue:
    severity: Severity
    check: str  # e.g. "overlap", "duplicate-code", "invalid-geometry"
    message: str


@dataclass
class Report:
    source: str = ""
    issues: list[Issue] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # facts about what was read (counts, CRS, area)

    def add(self, severity: Severity, check: str, message: str) -> None:
        self.issues.append(Issue(severity, check, message))

    def error(self, check: str, message: str) -> None:
        self.add("error", check, message)

    def extend(self, issues: list[Issue]) -> None:
        self.issues.extend(issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def checks(self, severity: Severity = "error") -> set[str]:
        return {i.check for i in self.issues if i.severity == severity}

    def text(self, limit: int = 20) -> str:
        """The report: the summary, then each issue (at most ``limit`` per check), then a verdict."""
        lines = [f"{self.source}: {s}" if self.source else s for s in self.summary]
        shown: Counter[tuple[str, str]] = Counter()
        for i in self.issues:
            key = (i.severity, i.check)
            shown[key] += 1
            if shown[key] <= limit:
                lines.append(f"{i.severity.upper():8} [{i.check}] {i.message}")
        for (sev, check), n in shown.items():
            if n > limit:
                lines.append(f"{sev.upper():8} [{check}] ... and {n - limit} more")
        n_err, n_rep = len(self.errors), sum(i.severity == "repaired" for i in self.issues)
        n_warn = len(self.issues) - n_err - n_rep
        verdict = "FAILED" if n_err else "OK"
        lines.append(f"{verdict}: {n_err} error(s), {n_rep} repaired, {n_warn} warning(s)")
        return "\n".join(lines)
