"""The package's layers import only downward, and the chapters never import their own answers.

Layers, lowest first (read from the imports with `ast`, including imports inside functions):

0. `mi_tutorial.protocol`: no import from the package (and no torch);
1. `mi_tutorial.data.*`: only the protocol and `data` itself;
2. the learner's library (`models`, `metrics`, `train`, `plotting`, `sae`, ...): layers 0-2;
3. `mi_tutorial.checks.*` (with its private `_keys`): layers 0-3;
4. `mi_tutorial.course.*`, the course's tooling: anything.

`mi_tutorial/__init__.py` imports nothing of the package. There is no import cycle. No file
outside `solutions/` is over 600 lines, and the README's layout paragraph names every folder
and public module of the package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mi_tutorial"
MAX_LINES = 600
# Check modules their owners are splitting now (issue 14); remove each once it is split.
BEING_SPLIT: set[str] = set()  # files allowed over the limit while being split: none now
LAYERS = ("protocol", "data", "library", "checks", "course")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    if module == "mi_tutorial":
        return -1
    if parts[1] == "protocol":
        return 0
    if parts[1] in ("data", "checks", "course"):
        return LAYERS.index(parts[1])
    return LAYERS.index("library")


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports (a name imported from a package counts as
    its submodule when there is one: `from mi_tutorial import sae` imports mi_tutorial.sae)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("mi_tutorial") and name != this:
                found.add(name)
    # `from mi_tutorial.x import y` also names the package mi_tutorial.x and mi_tutorial; only
    # the deepest module counts.
    return {name for name in found if not any(other.startswith(name + ".") for other in found)}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def test_each_layer_imports_only_downward():
    wrong = [
        f"{module} ({LAYERS[layer(module)] if layer(module) >= 0 else 'top'}) imports {target} "
        f"({LAYERS[layer(target)] if layer(target) >= 0 else 'top'})"
        for module, targets in import_graph().items()
        for target in targets
        if layer(target) > layer(module) or (module == "mi_tutorial" and targets)
    ]
    # Layers 2-4 may import their own layer; 0 and 1 too (data imports data).
    assert wrong == [], "imports that go up a layer:\n" + "\n".join(wrong)


def test_the_protocol_is_torch_free():
    graph = import_graph()
    assert graph["mi_tutorial.protocol"] == set()
    tree = ast.parse((PACKAGE / "protocol.py").read_text())
    third_party = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert third_party <= {"__future__", "ast", "json", "os", "re", "pathlib"}, third_party


def test_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], f"import cycles: {cycles}"


def _exercise_names(solution: Path) -> set[str]:
    """Top-level functions and classes of a chapter whose code holds a BEGIN SOLUTION."""
    lines = solution.read_text().splitlines()
    tree = ast.parse("\n".join("" if line.startswith(("%", "!")) else line for line in lines))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            span = lines[node.lineno - 1 : node.end_lineno]
            if any("### BEGIN SOLUTION" in line for line in span):
                names.add(node.name)
    return names


def _public_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }


SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[s.stem for s in SOLUTIONS])
def test_a_chapter_never_imports_its_own_answers(solution):
    known = modules()
    own = _exercise_names(solution)
    wrong = []
    for target in sorted(imports(solution, known)):
        if target.startswith("mi_tutorial.checks._keys"):
            wrong.append(f"imports the answer keys {target}")
            continue
        if target == "mi_tutorial.checks" or target.startswith("mi_tutorial.checks."):
            continue  # the checks themselves: check_* functions
        shadowing = own & _public_names(known[target])
        if shadowing:
            wrong.append(f"imports {target}, which defines its exercises {sorted(shadowing)}")
    assert wrong == [], f"{solution.name}: " + "; ".join(wrong)


def test_no_file_over_600_lines_outside_solutions():
    long = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if (
            relative.parts[0] in ("solutions", ".venv", "build")
            or "site-packages" in relative.parts
        ):
            continue
        if relative.parts[0].startswith("."):
            continue
        n = len(path.read_text(errors="replace").splitlines())
        if n > MAX_LINES and str(relative) not in BEING_SPLIT:
            long.append(f"{relative} ({n} lines)")
    assert long == [], f"files over {MAX_LINES} lines (split them): {long}"


def _layout_paragraph() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^Layout[^\n]*\n(?:.+\n)*", text, re.MULTILINE)
    assert found, "README.md has no paragraph starting 'Layout' (under 'For course authors')"
    return found.group(0)


def test_the_readme_layout_names_every_folder_and_module():
    paragraph = _layout_paragraph()
    missing = []
    for folder in sorted(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        relative = folder.relative_to(PACKAGE)
        if relative.parts[0] == "tokenizers" and len(relative.parts) > 1:
            continue  # one folder per shipped tokenizer: data, named by `tokenizers/`
        if f"{folder.name}/" not in paragraph:
            missing.append(f"{relative}/")
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if path.name.startswith("_") or "_keys" in relative.parts:
            continue  # private modules and the answer keys are named by their folder
        if relative.parts[0] == "checks" and re.fullmatch(r"ch\d\d\.py", path.name):
            if "chNN.py" not in paragraph:
                missing.append("checks/chNN.py")
            continue
        if relative.parts[:2] == ("course", "recipes"):
            continue  # one module per shipped model, named by `recipes/`
        if f"{path.name}" not in paragraph:
            missing.append(str(relative))
    assert missing == [], f"README.md's layout paragraph does not name: {sorted(set(missing))}"
