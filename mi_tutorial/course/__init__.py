"""The course's own tooling: build the notebooks, check and grade them, hand them out,
train the shipped models, and the `mi-tutorial` command.

It sits above the learner's library (`mi_tutorial.data`, `models`, `metrics`, `train`,
`plotting`, `sae`, `checks`): it imports them, and none of them imports it. Its heavier
dependencies (jupytext, nbclient, JupyterLab) come with the `course` extra:
`pip install -e ".[course]"`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[2]  # the clone's root, in an editable install
COURSE_DEPENDENCIES = ("jupytext", "nbformat", "nbclient")
NEEDS_A_CLONE = ("build", "list", "assign", "site")  # commands that read solutions/ and chapters/
INSTALL_HINT = 'pip install -e ".[course]"'


def _missing_dependencies() -> list[str]:
    return [name for name in COURSE_DEPENDENCIES if importlib.util.find_spec(name) is None]


def _is_a_clone(root: Path) -> bool:
    return (root / "solutions").is_dir() and (root / "pyproject.toml").is_file()


def main(argv: list[str] | None = None) -> int:
    """The `mi-tutorial` command: a clear message, not a traceback, when the course extra is
    not installed or a command that needs the course's folders runs outside a clone; then
    `mi_tutorial.course.cli.main`."""
    args = sys.argv[1:] if argv is None else list(argv)
    missing = _missing_dependencies()
    if missing:
        print(
            f"mi-tutorial: the course's tooling needs {', '.join(missing)}, which the `course` "
            f"extra installs. In the course's folder (a clone of its repository), run:\n"
            f"    {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 1
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command in NEEDS_A_CLONE and not _is_a_clone(COURSE_ROOT):
        print(
            f"mi-tutorial {command}: works in a clone of the course's repository, installed with "
            f"{INSTALL_HINT} from its folder; this package is installed at {COURSE_ROOT}, which "
            "has no solutions/ folder (a plain `pip install` copies only the library).",
            file=sys.stderr,
        )
        return 2
    from mi_tutorial.course.cli import main as cli_main

    return cli_main(args)
