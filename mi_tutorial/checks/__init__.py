"""Self-checks, one module per chapter: `checks.ch01.check_layernorm(LayerNorm)`.

Each check prints one line naming its exercise when the code is right, and raises
`CheckFailed` (which case, expected vs got, the likely mistake) when it is not.

A chapter's module is imported when first used (`checks.ch04` loads only chapter 04's
checks), so a notebook does not pay for importing what other chapters' checks need.
"""

import importlib
from pathlib import Path

from mi_tutorial.checks._core import Check, CheckFailed

# One module per chapter, chNN.py beside this file; a new chapter's checks need no entry here.
CHAPTERS = tuple(sorted(path.stem for path in Path(__file__).parent.glob("ch[0-9][0-9].py")))
__all__ = ["CHAPTERS", "Check", "CheckFailed", *CHAPTERS]  # noqa: PLE0604 - CHAPTERS holds str


def __getattr__(name: str):
    if name not in CHAPTERS:
        raise AttributeError(f"module 'mi_tutorial.checks' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(
            f"chapter {name[2:]}'s checks ({__name__}.{name}) are not in this "
            "version of the course; update it (git pull) or reinstall."
        ) from None
    globals()[name] = module
    return module
