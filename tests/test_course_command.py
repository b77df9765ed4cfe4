"""`mi-tutorial` says what to do, instead of a traceback, when the course extra is missing or a
command that needs the course's folders runs outside a clone (mi_tutorial.course.main)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import mi_tutorial
from mi_tutorial import course


def test_without_the_course_extra_it_names_the_install_command(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jupytext" else real(name, *a)
    )
    assert course.main(["list"]) == 1
    err = capsys.readouterr().err
    assert "jupytext" in err and 'pip install -e ".[course]"' in err and "Traceback" not in err


def test_build_list_assign_outside_a_clone_say_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(course, "COURSE_ROOT", tmp_path)  # an installed copy: no solutions/
    for command in ("build", "list", "assign"):
        assert course.main([command]) == 2
        err = capsys.readouterr().err
        assert f"mi-tutorial {command}: works in a clone" in err and "solutions/" in err


def test_in_the_clone_it_runs_the_command(capsys):
    assert course.main(["list"]) == 0
    assert "01" in capsys.readouterr().out


def test_the_version_comes_from_the_package_metadata():
    assert mi_tutorial.__version__ == importlib.metadata.version("mi-tutorial")
