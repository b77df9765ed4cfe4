"""The README's commands, files and flags exist, and CI runs exactly its test command."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from mi_tutorial.course import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
INSTRUCTORS = (ROOT / "docs" / "instructors.md").read_text()


def _marked(name: str) -> str:
    block = re.search(rf"<!-- {name} -->\n```bash\n(.*?)\n```\n<!-- /{name} -->", README, re.S)
    assert block, f"README has no {name} block"
    (line,) = block.group(1).splitlines()  # one line, pasteable as is
    return line


def test_readme_has_the_two_commands_near_the_top():
    start, test = _marked("start-command"), _marked("test-command")
    assert README.index(start) < 2500 and README.index(test) < 2500
    # the course's tooling (build, check, start) is the `course` extra
    assert start.endswith("mi-tutorial start") and 'pip install -e ".[course]"' in start
    # [instructor] too: CI runs this command, and tests/test_nbgrader.py needs nbgrader
    assert test.endswith("-m pytest") and 'pip install -e ".[dev,instructor]"' in test


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "README.md" in ci and 'eval "$command"' in ci
    assert "torch==2.13.0" in ci
    # the browser test (tests/test_browser.py) skips without Chromium: CI installs Debian's
    assert "apt-get update" in ci and "apt-get install -y chromium" in ci
    assert ci.index("apt-get install -y chromium") < ci.index('eval "$command"')


def test_every_mi_tutorial_command_the_readme_names_exists():
    parser = cli.make_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # name -> subparser
    named = set(re.findall(r"mi-tutorial (\w+)", README))
    assert {"start", "list", "build", "doctor", "train"} <= named
    for name in named:
        assert name in subcommands, f"README names `mi-tutorial {name}`, which does not exist"
    for name, flag in re.findall(r"mi-tutorial (\w+)[^`]*?(--[a-z-]+)", README):
        assert flag in subcommands[name].format_help(), f"README names `mi-tutorial {name} {flag}`"


def test_every_path_the_readme_names_exists():
    for path in re.findall(
        r"`((?:mi_tutorial|solutions|chapters|tests|benchmarks|docs|\.ci)/[\w./]*|[\w.]+\.(?:yml|toml|md))`",
        README + INSTRUCTORS,
    ):
        if "NN_topic" in path:
            continue
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"


def test_environment_yml_installs_from_pyproject_without_its_own_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_entries = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_entries == [["-e .[dev]"]], (
        "environment.yml must install this package, not a copy of its deps"
    )
    conda_names = {re.split(r"[=<>]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    assert conda_names == {"python", "pip"}, (
        f"only python and pip come from conda, got {conda_names}"
    )
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    assert tuple(int(x) for x in python.split("=")[1].split(".")) >= minimum


def test_pyproject_declares_the_design_dependencies_with_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + extras["course"]
    names = {re.split(r"[<>=!\[ ]", d)[0].lower().replace("-", "_"): d for d in declared}
    for name in (
        "torch",
        "transformer_lens",
        "circuitsvis",
        "plotly",
        "jupytext",
        "einops",
        "jaxtyping",
        "safetensors",
        "tqdm",
        "jupyterlab",
        "tokenizers",
    ):
        assert name in names, f"{name} missing from dependencies"
        assert "<" in names[name] and ">=" in names[name], f"{names[name]} needs a range"
    assert "transformer_lens>=4.1,<5" in project["dependencies"]
    assert project["scripts"]["mi-tutorial"] == "mi_tutorial.course:main"
    # the learner's library needs none of the tooling's packages (Colab installs no extras)
    base = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert not {"jupytext", "jupyterlab", "nbclient", "nbformat"} & base
    assert "mi-tutorial[course]" in extras["dev"]
    assert any(d.startswith("nbval") for d in extras["dev"]) and any(
        d.startswith("pytest") for d in extras["dev"]
    )
    assert any(d.startswith("nbgrader") for d in extras["instructor"])


# --- the learner and instructor docs name only what the tests run ----------------------------


def _code(text: str) -> str:
    """The inline code spans and fenced code blocks of a markdown text."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(blocks + spans)


def _section(title: str) -> str:
    found = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert found, f"README has no '## {title}' section"
    return found.group(1)


def _exercised() -> tuple[dict[str, set[str]], set[str]]:
    """What the tests run: {mi-tutorial subcommand: its flags}, and the nbgrader subcommands."""
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    cli_calls: dict[str, set[str]] = {}
    for call in re.findall(r"cli\.main\(\[(.*?)\]", tests, re.S):
        words = re.findall(r'"([^"]*)"', call)
        if words:
            cli_calls.setdefault(words[0], set()).update(w for w in words[1:] if w.startswith("--"))
    nbgrader = set(re.findall(r'nbgrader\(course, "(\w+)"', tests))
    return cli_calls, nbgrader


@pytest.mark.parametrize(
    "where", ["README: For learners", "README: For instructors", "docs/instructors.md"]
)
def test_learner_and_instructor_docs_name_only_commands_the_tests_run(where):
    text = (
        INSTRUCTORS if where == "docs/instructors.md" else _section(where.removeprefix("README: "))
    )
    code = _code(text)
    cli_calls, nbgrader = _exercised()
    named = re.findall(r"mi-tutorial (\w+)([^\n]*)", code)
    assert named, f"{where} names no mi-tutorial command"
    for command, rest in named:
        assert command in cli_calls, (
            f"{where} names `mi-tutorial {command}`, which no test runs through cli.main"
        )
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
            assert flag in cli_calls[command], (
                f"{where} names `mi-tutorial {command} {flag}`, which no test runs"
            )
    for command in re.findall(r"^nbgrader (\w+)", code, re.M):
        assert command in nbgrader, (
            f"{where} names `nbgrader {command}`, which tests/test_nbgrader.py does not run"
        )
