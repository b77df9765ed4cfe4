"""`mi-tutorial`: open the course, list its chapters, build notebooks, check the set-up.

mi-tutorial start [JUPYTER ARGS…]   open JupyterLab on the course (chapters/, solutions/)
mi-tutorial list                    chapters: title, time budget, exercises
mi-tutorial build [--check] [--force]
mi-tutorial check NOTEBOOK|FOLDER… [--json FILE] [--jobs N] [--timeout S]
                                    run a copy of each notebook; a table of its exercises
mi-tutorial assign CHAPTER… --out DIR [--nbgrader] [--assignment NAME]
                                    a handout folder for a class (and an nbgrader course)
mi-tutorial doctor [--network]      versions, CPU/GPU, offline status, checkpoints
mi-tutorial train NAME [--out DIR] [--steps N]  retrain a shipped model from its seed
mi-tutorial site --out DIR [--executed DIR] [--chapters NN…]
                                    the course's website (Sphinx), from executed notebooks
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

from mi_tutorial.course import build, grading

HUB_HOST = ("huggingface.co", 443)  # only the optional real-model sections need it


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def jupyterlab_command(extra: list[str]) -> list[str]:
    """What `start` runs: JupyterLab rooted at the course folder, so that both chapters/ and
    solutions/ are in its file browser, opening on chapters/; `--allow-root` when run as
    root (containers, cloud machines), where JupyterLab otherwise refuses to start."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={build.COURSE_ROOT}",
        "--ServerApp.default_url=/lab/tree/chapters",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    return [*command, *extra]


def cmd_start(args: argparse.Namespace) -> int:
    chapters = build.COURSE_ROOT / "chapters"
    if not any(chapters.glob("*.ipynb")):
        print(
            f"No exercise notebooks in {chapters}.\n"
            "`mi-tutorial start` works from a clone of the course repository, installed with "
            "`pip install -e .`; in a clone, run `mi-tutorial build` to generate them.",
            file=sys.stderr,
        )
        return 1
    command = jupyterlab_command(args.jupyter_args)
    print(
        f"Opening JupyterLab on {build.COURSE_ROOT} (chapters/ and solutions/; "
        "stop it with Ctrl-C):\n  " + " ".join(command[1:]),
        flush=True,
    )
    os.execv(sys.executable, command)
    return 0  # not reached: execv replaces this process


def cmd_list(args: argparse.Namespace) -> int:
    chapters = build.find_chapters()
    if not chapters:
        print(f"No chapters found under {build.COURSE_ROOT / 'solutions'}.", file=sys.stderr)
        return 1
    rows = [chapter.info() for chapter in chapters]
    title_width = max(len(r["title"]) for r in rows)
    print(f"{'NN':<3} {'title':<{title_width}}  {'time':<10} {'exercises':>9}  solutions")
    for r in rows:
        solution = "yes" if r["solution_notebook"] else "missing (run `mi-tutorial build`)"
        print(
            f"{r['number']:<3} {r['title']:<{title_width}}  {r['time_budget']:<10} "
            f"{r['exercises']:>9}  {solution}"
        )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    try:
        result = build.build(check=args.check, force=args.force)
    except build.BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    for path in result.written:
        print(f"wrote   {_relative(path)}")
    for path in result.backups:
        print(f"backup  {_relative(path)} (your edited copy, moved aside)")
    for path in result.kept:
        print(
            f"kept    {_relative(path)}: its source has changed, but it has edits of yours, so it "
            "was not regenerated. Run `mi-tutorial build --force` to move it aside and write a "
            "fresh copy.",
            file=sys.stderr if args.check else sys.stdout,
        )
    if result.stale:
        print(
            "Stale generated notebooks (run `mi-tutorial build`, then commit them):",
            file=sys.stderr,
        )
        for path in result.stale:
            print(f"  {_relative(path)}", file=sys.stderr)
    if result.stale or (args.check and result.kept):
        return 1
    if args.check:
        print("All generated notebooks are up to date.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.notebooks if not p.exists()]
    if missing:
        print(f"No such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    paths = grading.find_notebooks(args.notebooks)
    if not paths:
        print(f"No .ipynb files under {', '.join(map(str, args.notebooks))}.", file=sys.stderr)
        return 2
    if args.jobs < 1 or args.timeout <= 0:
        print("--jobs must be at least 1 and --timeout more than 0 seconds.", file=sys.stderr)
        return 2
    reports = []
    for report in grading.check_notebooks(paths, timeout=args.timeout, jobs=args.jobs):
        print(grading.format_report(report) + "\n", flush=True)
        reports.append(report)
    if len(reports) > 1:
        print(f"{sum(r.ok for r in reports)} of {len(reports)} notebooks: every exercise passed.")
    if args.json:
        args.json.write_text(
            json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False) + "\n"
        )
        print(f"wrote   {_relative(args.json)}")
    return 0 if all(r.ok for r in reports) else 1


def cmd_assign(args: argparse.Namespace) -> int:
    from mi_tutorial.course import assign

    try:
        chapters = assign.select_chapters(args.chapters)
        name = args.assignment or assign.default_name(chapters)
        written = assign.write_assignment(chapters, args.out, nbgrader=args.nbgrader, name=name)
    except assign.AssignError as error:
        print(error, file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote   {_relative(path)}")
    print(assign.next_steps(args.out, nbgrader=args.nbgrader, name=name))
    return 0


def _network_status(probe: bool) -> str:
    flags = [
        name for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(name) == "1"
    ]
    setting = f" ({', '.join(flags)} set)" if flags else ""
    if not probe:
        return (
            f"not probed{setting}; the course needs no network. "
            "`mi-tutorial doctor --network` tests whether the model hub is reachable."
        )
    try:
        with socket.create_connection(HUB_HOST, timeout=3):
            return (
                f"online: {HUB_HOST[0]} is reachable{setting}; "
                "the optional real-model sections can download"
            )
    except OSError:
        return (
            f"offline: {HUB_HOST[0]} is not reachable{setting}; "
            "the course runs fine, real-model sections are skipped"
        )


def cmd_doctor(args: argparse.Namespace) -> int:
    import torch

    from mi_tutorial import models

    print(f"python            {platform.python_version()} ({sys.executable})")
    for package in (
        "mi-tutorial",
        "torch",
        "transformer_lens",
        "circuitsvis",
        "plotly",
        "jupytext",
        "jupyterlab",
        "nbval",
    ):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"{package:<17} {version}")
    gpu = (
        "CUDA: " + torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else "none (the course runs on CPU)"
    )
    print(f"CPU               {os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads")
    print(f"GPU               {gpu}")
    print(f"network           {_network_status(args.network)}")
    statuses = models.verify_checkpoints()
    if not statuses:
        print("checkpoints       none shipped")
    for name, ok, message in statuses:
        print(f"checkpoint        {name}: {'ok' if ok else 'FAILED'} — {message}")
    chapters = build.find_chapters()
    print(f"chapters          {len(chapters)} found under {build.COURSE_ROOT}")
    all_ok = all(ok for _, ok, _ in statuses)
    print("All good." if all_ok else "Some checkpoints failed to verify: see above.")
    return 0 if all_ok else 1


def cmd_train(args: argparse.Namespace) -> int:
    from mi_tutorial.course.recipes import run_recipe

    try:
        metrics = run_recipe(args.name, out_dir=args.out, steps=args.steps)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"trained {args.name}:")
    for key, value in metrics.items():
        print(f"  {key:<28} {value:.4g}" if isinstance(value, float) else f"  {key:<28} {value}")
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    from mi_tutorial.course import site

    chapters = build.find_chapters()
    if args.chapters:
        unknown = sorted(set(args.chapters) - {c.number for c in chapters})
        if unknown:
            known = " ".join(c.number for c in chapters)
            print(f"No chapter {', '.join(unknown)}; the chapters are {known}.", file=sys.stderr)
            return 2
        chapters = [c for c in chapters if c.number in args.chapters]
    if args.executed is not None and not args.executed.is_dir():
        print(f"--executed {args.executed}: no such folder.", file=sys.stderr)
        return 2
    try:
        result = site.build_site(args.out, executed=args.executed, chapters=chapters)
    except site.SiteError as error:
        print(f"site failed: {error}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning {warning}", file=sys.stderr)
    executed = (
        f", after {result.execution_seconds:.0f} s executing" if args.executed is None else ""
    )
    print(
        f"wrote   {_relative(result.out)}: {len(result.pages)} pages, "
        f"{result.size_bytes / 1e6:.1f} MB, built in {result.seconds:.0f} s "
        f"({result.cpu_seconds:.0f} s CPU){executed}.\n"
        f"Open {_relative(result.out / 'index.html')} in a browser (it needs no server and no "
        "network)."
    )
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mi-tutorial", description="The mi-tutorial course.")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser(
        "start",
        help="open JupyterLab on the course (chapters/ and solutions/)",
        description="Run `python -m jupyterlab --ServerApp.root_dir=COURSE "
        "--ServerApp.default_url=/lab/tree/chapters`, with --allow-root when run as root: the "
        "file browser shows chapters/ and solutions/. Other arguments (e.g. --no-browser) go to "
        "JupyterLab.",
    )
    start.set_defaults(func=cmd_start)

    sub.add_parser("list", help="list the chapters").set_defaults(func=cmd_list)

    build_cmd = sub.add_parser("build", help="generate notebooks from solutions/NN_topic.py")
    build_cmd.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any notebook is stale"
    )
    build_cmd.add_argument(
        "--force",
        action="store_true",
        help="also regenerate edited notebooks (moving them aside first)",
    )
    build_cmd.set_defaults(func=cmd_build)

    check = sub.add_parser(
        "check",
        help="run a copy of notebooks headless and report each exercise",
        description="Run a copy of each notebook headless (the file itself is never changed) "
        "and print, "
        "for each exercise: passed, failed (with the check's message), not attempted, or an error. "
        "Exits 0 only when every exercise of every notebook passed.",
    )
    check.add_argument(
        "notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="notebooks, or folders of them"
    )
    check.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON"
    )
    check.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="check N notebooks at a time (default 1)"
    )
    check.add_argument(
        "--timeout",
        type=int,
        default=grading.DEFAULT_TIMEOUT,
        metavar="S",
        help="interrupt any one cell after S seconds and go on with the next "
        f"(default {grading.DEFAULT_TIMEOUT})",
    )
    check.set_defaults(func=cmd_check)

    assign = sub.add_parser(
        "assign",
        help="write a handout folder for a class",
        description="Write DIR with the chosen chapters' exercise notebooks and a README for "
        "students; "
        "with --nbgrader, DIR/handout holds those and DIR/nbgrader is an nbgrader course folder "
        "whose source/ holds the solution notebooks.",
    )
    assign.add_argument(
        "chapters", nargs="+", metavar="CHAPTER", help="chapter numbers, e.g. 01 02"
    )
    assign.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new or empty folder"
    )
    assign.add_argument(
        "--nbgrader", action="store_true", help="also write an nbgrader course folder"
    )
    assign.add_argument(
        "--assignment", metavar="NAME", help="the assignment's name (default: ch01, ch01_02, …)"
    )
    assign.set_defaults(func=cmd_assign)

    doctor = sub.add_parser(
        "doctor", help="report versions, hardware, network and checkpoint status"
    )
    doctor.add_argument(
        "--network", action="store_true", help="test whether the model hub is reachable"
    )
    doctor.set_defaults(func=cmd_doctor)

    train = sub.add_parser("train", help="retrain a shipped model from its recorded seed")
    train.add_argument("name", help="a shipped model, e.g. attn-only-2l")
    train.add_argument(
        "--out", type=Path, default=None, help="write the checkpoint here instead of the package"
    )
    train.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train for this many steps instead of the recipe's (a quick try; needs --out)",
    )
    train.set_defaults(func=cmd_train)

    site = sub.add_parser(
        "site",
        help="build the course's website",
        description="Build the course's static website (Sphinx, MyST-NB, the Sphinx Book "
        "Theme) into DIR: a landing page with the chapter table, one page per chapter from its "
        "executed solution notebook, TinyWorld, the instructors' guide and the API reference. "
        "Without --executed, every solution notebook is executed first (minutes).",
    )
    site.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="replaced if it exists"
    )
    site.add_argument(
        "--executed",
        type=Path,
        metavar="DIR",
        help="take the executed solution notebooks (NN_topic.ipynb) from DIR; execute nothing",
    )
    site.add_argument(
        "--chapters", nargs="+", metavar="NN", help="only these chapters (a quick preview)"
    )
    site.set_defaults(func=cmd_site)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "start":  # only `start` passes arguments on (to JupyterLab)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
