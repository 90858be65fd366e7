"""The fault table of docs/reliability.md from the last reliability run's figures.

    ./run reliability                  # writes test-output/reliability-figures.jsonl
    .venv/bin/python bench/fault_table.py [--run 2026-11-26T02:30:00]

Every fault test records its own figures (tests/reliability/conftest.py ``figures``); this prints one
Markdown row per fault: incidents expected, got, lost, duplicated, time to recover, and whether every
other service kept answering during it ("-" where a test does not measure that column).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "test-output" / "reliability-figures.jsonl"
# the names tests use for each column, first found wins
COLUMNS = {
    "expected": ("incidents_expected", "expected", "offered", "detections"),
    "got": ("got", "incidents", "board_incidents"),
    "lost": ("lost",),
    "duplicated": ("duplicated",),
    "recover": ("time_to_recover_s", "recover_s", "takeover_s", "revoked_after_s", "stopped_after_s"),
    "others": ("others_answered",),
}


def cell(row: dict, names: tuple[str, ...]) -> str:
    for n in names:
        if n in row and row[n] is not None:
            v = row[n]
            if isinstance(v, bool):
                return "yes" if v else "**no**"
            if isinstance(v, float):
                return f"{v:.1f}"
            if isinstance(v, dict):
                return ", ".join(f"{k} {x:.1f}" if isinstance(x, float) else f"{k} {x}" for k, x in v.items())
            return str(v)
    return "-"


def notes(row: dict, width: int = 110) -> str:
    """The test's other figures (not in a column), shortened."""
    used = {n for names in COLUMNS.values() for n in names if n in row}
    rest = [f"{k}={v}" for k, v in row.items() if k not in used | {"test", "run", "fault"}]
    text = ", ".join(rest).replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=FIGURES)
    ap.add_argument("--run", help="the run to print (default: the last one in the file)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    run = args.run or max(r.get("run", "") for r in rows)
    rows = [r for r in rows if r.get("run", "") == run and "fault" in r]
    print(f"Run {run}: {len(rows)} faults\n")
    print(
        "| fault | expected | got | lost | duplicated | time to recover (s) | others answered | also measured |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        vals = [cell(r, COLUMNS[k]) for k in ("expected", "got", "lost", "duplicated", "recover", "others")]
        fault = str(r["fault"]).replace("|", "/")
        print(f"| {fault} | " + " | ".join(vals) + f" | {notes(r)} |")


if __name__ == "__main__":
    main()
