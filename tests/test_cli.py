"""`mi-tutorial` commands, called as a learner would (through main())."""

import os
import subprocess
import sys

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


def test_start_opens_jupyterlab_on_chapters(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    assert cli.main(["start", "--no-browser"]) == 0
    (argv,) = calls
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={build.COURSE_ROOT / 'chapters'}" in argv
    assert argv[-1] == "--no-browser"


def test_jupyterlab_is_installed_for_start():
    """`start` runs `python -m jupyterlab`; it must exist in this environment."""
    result = subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_train_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["train", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "attn-only-2l" in err


def test_console_script_is_installed():
    result = subprocess.run(["mi-tutorial", "--help"], capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0
    for command in ("start", "list", "build", "check", "assign", "doctor", "train"):
        assert command in result.stdout


def test_unknown_command_is_rejected():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
