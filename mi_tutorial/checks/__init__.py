"""Self-checks, one module per chapter: `checks.ch01.check_layernorm(LayerNorm)`.

Each check prints one line naming its exercise when the code is right, and raises
`CheckFailed` (which case, expected vs got, the likely mistake) when it is not.
"""

from mi_tutorial.checks import ch01, ch02
from mi_tutorial.checks import ch04
from mi_tutorial.checks import ch06
from mi_tutorial.checks._core import Check, CheckFailed

__all__ = ["Check", "CheckFailed", "ch01", "ch02", "ch04", "ch06"]
