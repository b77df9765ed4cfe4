"""Answer keys are not copies of the answers, and a chapter never imports its own answers.

An answer key that copies the chapter's solution checks nothing on its own: if both are
wrong, the check fails the learner who is right. So every function of
`mi_tutorial/checks/_keys/<topic>.py` must differ from every solution block of the chapter
whose checks import it (difflib's ratio on the normalised bodies, below `MAX_SIMILARITY`).
Bodies are normalised by `ast.unparse` (comments, blank lines, quotes and spacing gone) with
the docstring dropped; a solution's body is the code between its `### BEGIN SOLUTION` and
`### END SOLUTION` lines.

Before the keys were rewritten (commit c7ac4d1, this measure), 6 keys were identical to their
solution and 11 more at least 80% similar (17 in all; issue 15 counted 14 by another measure).
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mi_tutorial"
KEYS = PACKAGE / "checks" / "_keys"
MAX_SIMILARITY = 0.8
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _parse(path: Path) -> ast.Module:
    # Solutions are jupytext percent files: valid Python once shell/magic lines are blanked.
    lines = ["" if line.startswith(("%", "!")) else line for line in path.read_text().splitlines()]
    return ast.parse("\n".join(lines))


def _body(node: ast.FunctionDef) -> str:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return "\n".join(ast.unparse(statement) for statement in body)


def key_functions(module: Path) -> dict[str, str]:
    """Normalised body of every function and method of an answer-key module."""
    return {
        node.name: _body(node)
        for node in ast.walk(_parse(module))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def solution_blocks(path: Path) -> dict[str, str]:
    """Normalised code between BEGIN and END SOLUTION of every function of a chapter."""
    source = path.read_text().splitlines()
    blocks = {}
    for node in ast.walk(_parse(path)):
        if not isinstance(node, ast.FunctionDef):
            continue
        # END SOLUTION is a comment after the last statement: look a little past the end.
        lines = source[node.lineno - 1 : node.end_lineno + 3]
        begin = next((i for i, line in enumerate(lines) if BEGIN in line), None)
        end = next((i for i, line in enumerate(lines) if END in line), None)
        if begin is None or end is None or end < begin:
            continue
        code = textwrap.dedent("\n".join(lines[begin + 1 : end]))
        blocks[node.name] = "\n".join(ast.unparse(s) for s in ast.parse(code).body)
    return blocks


def key_chapters() -> dict[str, list[Path]]:
    """Answer-key module name -> the solution files of the chapters whose checks import it."""
    found: dict[str, list[Path]] = {}
    # chNN.py and the helper modules it is split into (_cases_chNN.py, ...)
    for checks in sorted((PACKAGE / "checks").glob("*ch[0-9][0-9]*.py")):
        number = checks.stem.split("ch")[-1][:2]
        solutions = sorted((ROOT / "solutions").glob(f"{number}_*.py"))
        for node in ast.walk(ast.parse(checks.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == "mi_tutorial.checks._keys":
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "mi_tutorial.checks._keys."
            ):
                names = [node.module.rsplit(".", 1)[1]]
            elif isinstance(node, ast.Import):
                prefix = "mi_tutorial.checks._keys."
                names = [
                    a.name[len(prefix) :].split(".")[0]
                    for a in node.names
                    if a.name.startswith(prefix)
                ]
            for name in names:
                found.setdefault(name, []).extend(solutions)
    return found


def similar_pairs(threshold: float = MAX_SIMILARITY) -> list[tuple[str, str, str, float]]:
    """(key module, key function, solution function, ratio) for every pair at or above threshold."""
    pairs = []
    for module, solutions in key_chapters().items():
        keys = key_functions(KEYS / f"{module}.py")
        for solution in solutions:
            for sol_name, sol_body in solution_blocks(solution).items():
                for key_name, key_body in keys.items():
                    matcher = difflib.SequenceMatcher(None, key_body, sol_body, autojunk=False)
                    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                        continue  # upper bounds of ratio(): cheap, and they rule most pairs out
                    ratio = matcher.ratio()
                    if ratio >= threshold:
                        pairs.append(
                            (module, key_name, f"{solution.name}:{sol_name}", round(ratio, 2))
                        )
    return pairs


def test_the_comparison_finds_solution_blocks():
    """Guards the test below against comparing with nothing. (A key module no chapter's checks
    import yet, e.g. one for a chapter being written, is compared once a check imports it.)"""
    assert {"induction", "patching", "steering", "superposition"} <= set(key_chapters())
    for module, solutions in key_chapters().items():
        assert solutions, f"_keys/{module}.py: its chapter has no solutions/NN_*.py"
        assert any(solution_blocks(s) for s in solutions), (
            f"no solution block found for _keys/{module}.py"
        )
        assert key_functions(KEYS / f"{module}.py"), f"_keys/{module}.py defines no function"


def test_no_answer_key_is_a_copy_of_its_solution():
    pairs = similar_pairs()
    assert pairs == [], (
        "answer keys whose body is near-identical to the chapter's solution (write the key another "
        "way: TransformerLens, a loop against a vectorised form, a closed form, or properties): "
        f"{pairs}"
    )


@pytest.mark.parametrize("ratio", [1.0, 0.85])
def test_the_similarity_measure_catches_a_copy(ratio):
    """A copied body (renamed variables count as a copy too) is caught."""
    solution = (
        "top = pre.topk(k, dim=-1)\n"
        "return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())"
    )
    copy = solution if ratio == 1.0 else solution.replace("top", "best")
    assert difflib.SequenceMatcher(None, copy, solution, autojunk=False).ratio() >= MAX_SIMILARITY
