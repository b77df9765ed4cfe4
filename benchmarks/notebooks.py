"""Time each solution notebook executed headless, as nbval runs it (target: ≤ 90 s each on 2 CPU cores).

python benchmarks/build.py [NN ...]
"""

import sys
import time

import nbclient
import nbformat

from mi_tutorial.course import build


def main(wanted: list[str]) -> int:
    chapters = [c for c in build.find_chapters() if not wanted or c.number in wanted]
    for chapter in chapters:
        nb = nbformat.read(chapter.solution_notebook, as_version=4)
        start = time.perf_counter()
        nbclient.NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(chapter.root)}},
        ).execute()
        seconds = time.perf_counter() - start
        print(
            f"{chapter.stem:<40} {seconds:6.1f} s  ({len(nb.cells)} cells){'  OVER 90 s' if seconds > 90 else ''}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
