"""mi_tutorial: the helper library of the mi-tutorial course.

It holds what the chapters do not teach: data, shipped toy models, training loops, plots
and the self-checks. Import what you need explicitly, e.g.
`from mi_tutorial import checks, models, plotting, train`.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the version lives in pyproject.toml only
    __version__ = version("mi-tutorial")
except PackageNotFoundError:  # the package's folder on sys.path without being installed
    __version__ = "0+unknown"
