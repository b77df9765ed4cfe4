"""`mi-tutorial` commands, called as a learner would (through main())."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mi_tutorial.course import build, cli


def test_list_shows_each_chapter_with_budget_and_exercise_count(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for chapter in build.find_chapters():
        info = chapter.info()
        line = next(l for l in out.splitlines() if l.startswith(info["number"] + " "))
        assert info["title"] in line and info["time_budget"] in line
        assert f" {info['exercises']} " in line and line.rstrip().endswith("yes")


def test_build_check_passes_on_the_course(capsys):
    assert cli.main(["build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_doctor_reports_versions_hardware_network_and_checkpoints(capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("doctor must not touch the network unless asked to")

    monkeypatch.setattr(cli.socket, "create_connection", no_network)
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    for word in ("torch", "transformer_lens", "CPU", "GPU", "network", "checkpoint"):
        assert word in out
    assert "not probed" in out
    assert code == 0 and "All good." in out


def test_doctor_network_probe_reports_offline(capsys, monkeypatch):
    def refused(*args, **kwargs):
        raise OSError("no route")

    monkeypatch.setattr(cli.socket, "create_connection", refused)
    cli.main(["doctor", "--network"])
    assert "offline:" in capsys.readouterr().out


@pytest.mark.parametrize("euid", [1000, 0], ids=["user", "root"])
def test_start_roots_jupyterlab_where_chapters_and_solutions_are(monkeypatch, capsys, euid):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    monkeypatch.setattr(os, "geteuid", lambda: euid, raising=False)
    assert cli.main(["start", "--no-browser"]) == 0
    (argv,) = calls
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    (root,) = [a.split("=", 1)[1] for a in argv if a.startswith("--ServerApp.root_dir=")]
    for folder in ("chapters", "solutions"):  # both inside the server's root
        assert (Path(root) / folder).is_dir()
    assert "--ServerApp.default_url=/lab/tree/chapters" in argv
    assert ("--allow-root" in argv) == (euid == 0)  # JupyterLab refuses root without it
    assert argv[-1] == "--no-browser"
    assert " ".join(argv[1:]) in capsys.readouterr().out  # it says what it runs


def test_start_documents_what_it_passes_to_jupyterlab():
    from mi_tutorial.course import build as build_module

    readme = (build_module.COURSE_ROOT / "README.md").read_text()
    for words in ("--allow-root", "--ServerApp.root_dir"):
        assert (
            words in readme
            and words
            in cli.make_parser()._subparsers._group_actions[0].choices["start"].description
        )


def test_every_exercise_notebook_says_where_its_solution_is():
    for chapter in build.find_chapters():
        first = build.build_notebook(chapter, "exercises").cells[0]
        solution = chapter.solution_notebook.relative_to(chapter.root).as_posix()
        assert first.cell_type == "markdown" and f"`{solution}`" in first.source
        assert chapter.root == build.COURSE_ROOT  # inside the root of `start`'s JupyterLab


def test_jupyterlab_is_installed_for_start():
    """`start` runs `python -m jupyterlab`; it must exist in this environment."""
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab", "--version"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_train_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["train", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "attn-only-2l" in err


def test_console_script_is_installed():
    """`mi-tutorial` next to the Python that runs the tests (.venv/bin), not whatever is on
    PATH: the README's test command never puts .venv/bin on PATH."""
    script = Path(sys.executable).parent / ("mi-tutorial.exe" if os.name == "nt" else "mi-tutorial")
    assert script.exists(), (
        f"no console script at {script}: is the package installed in this environment?"
    )
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    result = subprocess.run(
        [str(script), "--help"], check=False, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0
    for command in ("start", "list", "build", "check", "assign", "doctor", "train"):
        assert command in result.stdout


def test_unknown_command_is_rejected():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2


def _learner_checkout(tmp_path: Path) -> Path:
    """A course folder with one chapter, generated, then worked on as a learner would."""
    from test_notebooks import SOURCE

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "99_test.py").write_text(SOURCE)
    assert build.build(tmp_path).written
    return tmp_path


def test_build_check_passes_where_a_learner_ran_and_edited_the_notebooks(
    tmp_path, monkeypatch, capsys
):
    import nbformat

    course = _learner_checkout(tmp_path)
    monkeypatch.setattr(build, "COURSE_ROOT", course)
    solutions, exercises = (
        course / "solutions" / "99_test.ipynb",
        course / "chapters" / "99_test.ipynb",
    )
    ran = nbformat.read(
        solutions, as_version=4
    )  # run in JupyterLab: outputs and Jupyter's metadata
    for n, cell in enumerate(c for c in ran.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="4\n")]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    ran.metadata["language_info"] = {
        "name": "python",
        "version": "3.11.7",
        "mimetype": "text/x-python",
    }
    nbformat.write(ran, solutions)
    edited = nbformat.read(exercises, as_version=4)  # the learner's answer in place of the stub
    stub = next(c for c in edited.cells if "raise NotImplementedError()" in c.source)
    stub.source = stub.source.replace("raise NotImplementedError()", "return x + x", 1)
    nbformat.write(edited, exercises)
    mine = solutions.read_text(), exercises.read_text()

    assert build.build(course, check=True).ok
    assert cli.main(["build", "--check"]) == 0 and "up to date" in capsys.readouterr().out
    assert cli.main(["build"]) == 0  # and `build` agrees: nothing to do, nothing touched
    assert (solutions.read_text(), exercises.read_text()) == mine

    # The source changes: both are stale; each message names the command that fixes it.
    source = course / "solutions" / "99_test.py"
    source.write_text(source.read_text().replace("Twice x.", "Two times x."))
    assert cli.main(["build", "--check"]) == 1
    err = capsys.readouterr().err
    assert (
        "run `mi-tutorial build`" in err and "solutions/99_test.ipynb" in err
    )  # only run: build rewrites it
    assert (
        "`mi-tutorial build --force`" in err and "chapters/99_test.ipynb" in err
    )  # edited: needs --force
    assert cli.main(["build"]) == 0
    assert cli.main(["build", "--check"]) == 1  # the edited one is still kept...
    assert cli.main(["build", "--force"]) == 0
    assert cli.main(["build", "--check"]) == 0  # ...until --force, as the message said
    assert list((course / "chapters").glob("99_test.bak-*.ipynb"))


def test_committed_notebooks_have_no_outputs():
    """`build --check` accepts a notebook that was run; what git holds must still be clean."""
    import json

    root = build.COURSE_ROOT
    if (
        subprocess.run(
            ["git", "-C", str(root), "rev-parse"], check=False, capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("not a git checkout")
    for chapter in build.find_chapters():
        for path in (chapter.solution_notebook, chapter.exercise_notebook):
            relative = path.relative_to(root).as_posix()
            shown = subprocess.run(
                ["git", "-C", str(root), "show", f":{relative}"],
                check=False,
                capture_output=True,
                text=True,
            )
            if shown.returncode != 0:
                continue  # not staged yet
            for cell in json.loads(shown.stdout)["cells"]:
                assert not cell.get("outputs") and cell.get("execution_count") is None, (
                    f"{relative} has outputs"
                )
