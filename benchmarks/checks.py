"""Time every check of every chapter on the chapter's own solution, and count its mutants.

    .venv/bin/python benchmarks/checks.py [ch01 ch02 ...]

For each check: CPU seconds (time.process_time) and wall seconds of one call with the
solution, after a first warm-up call (which pays for imports, booting models and filling the
checks' caches: that first call is reported too). Then, per chapter, the mutants of
tests/test_chNN_checks.py: how many, and the share whose expected message names the mistake
(`check_harness.names_the_mistake`; the tests prove each is rejected). One torch thread, as
in the tests. Prints a table and the slowest check; the limit a check call should stay under
is 1 s.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import solution_cells  # noqa: E402
from check_harness import ChapterChecks, mutant_figures  # noqa: E402

from mi_tutorial.checks import CHAPTERS  # noqa: E402

LIMIT_S = 1.0


def _harness_class(chapter: str) -> type[ChapterChecks]:
    tests = importlib.import_module(f"test_{chapter}_checks")
    found = [
        v
        for v in vars(tests).values()
        if isinstance(v, type) and issubclass(v, ChapterChecks) and v is not ChapterChecks
    ]
    return found[0]


def _time(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main(chapters: list[str]) -> None:
    torch.set_num_threads(1)
    print(f"load average: {os.getloadavg()[0]:.1f} (wall time is inflated by other processes)")
    rows, figures = [], {}
    for chapter in chapters:
        cls = _harness_class(chapter)
        with contextlib.redirect_stdout(io.StringIO()):  # the setup cells print examples
            namespace = solution_cells.solution_namespace(cls.stem)
        for name, args in cls.check_args.items():
            check = getattr(cls.module, name)

            def run(check=check, args=args):
                check(*(namespace[arg] for arg in args))

            first = _time(run)
            cpu, wall = _time(run)
            rows.append((chapter, name, first[0], cpu, wall))
        figures[chapter] = mutant_figures(cls)
    print(f"\n{'check':<46} {'first CPU s':>11} {'CPU s':>7} {'wall s':>7}")
    for chapter, name, first, cpu, wall in rows:
        flag = "  > 1 s" if cpu > LIMIT_S else ""
        print(f"{chapter}.{name:<41} {first:>11.2f} {cpu:>7.2f} {wall:>7.2f}{flag}")
    slowest = max(rows, key=lambda row: row[3])
    print(f"\nslowest (CPU, after warm-up): {slowest[0]}.{slowest[1]}, {slowest[3]:.2f} s")
    print(f"\n{'chapter':<8} {'mutants':>8} {'named':>6} {'share':>6}")
    for chapter, f in figures.items():
        print(f"{chapter:<8} {f['mutants']:>8} {f['named']:>6} {f['share_named']:>6.0%}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(CHAPTERS))
