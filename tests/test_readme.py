"""The README's commands, files and flags exist, and CI runs exactly its test command."""

import re
import tomllib
from pathlib import Path

import yaml

from mi_tutorial import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _marked(name: str) -> str:
    block = re.search(rf"<!-- {name} -->\n```bash\n(.*?)\n```\n<!-- /{name} -->", README, re.S)
    assert block, f"README has no {name} block"
    (line,) = block.group(1).splitlines()  # one line, pasteable as is
    return line


def test_readme_has_the_two_commands_near_the_top():
    start, test = _marked("start-command"), _marked("test-command")
    assert README.index(start) < 2500 and README.index(test) < 2500
    assert start.endswith("mi-tutorial start") and "pip install -e ." in start
    assert test.endswith("-m pytest") and 'pip install -e ".[dev]"' in test


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "README.md" in ci and 'eval "$command"' in ci
    assert "torch==2.13.0" in ci


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
    for path in re.findall(r"`((?:mi_tutorial|solutions|chapters|tests|benchmarks|\.ci)/[\w./]*|[\w.]+\.(?:yml|toml|md))`", README):
        if "NN_topic" in path:
            continue
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"


def test_environment_yml_installs_from_pyproject_without_its_own_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_entries = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_entries == [["-e .[dev]"]], "environment.yml must install this package, not a copy of its deps"
    conda_names = {re.split(r"[=<>]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    assert conda_names == {"python", "pip"}, f"only python and pip come from conda, got {conda_names}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    assert tuple(int(x) for x in python.split("=")[1].split(".")) >= minimum


def test_pyproject_declares_the_design_dependencies_with_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!\[ ]", d)[0].lower().replace("-", "_"): d for d in project["dependencies"]}
    for name in ("torch", "transformer_lens", "circuitsvis", "plotly", "jupytext", "einops", "jaxtyping",
                 "safetensors", "tqdm", "jupyterlab", "tokenizers"):
        assert name in names, f"{name} missing from dependencies"
        assert "<" in names[name] and ">=" in names[name], f"{names[name]} needs a range"
    assert "transformer_lens>=4.1,<5" in project["dependencies"]
    assert project["scripts"]["mi-tutorial"] == "mi_tutorial.cli:main"
    extras = project["optional-dependencies"]
    assert any(d.startswith("nbval") for d in extras["dev"]) and any(d.startswith("pytest") for d in extras["dev"])
    assert any(d.startswith("nbgrader") for d in extras["instructor"])
