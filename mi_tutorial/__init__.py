"""mi_tutorial: the helper library of the mi-tutorial course.

It holds what the chapters do not teach: data, shipped toy models, training loops, plots
and the self-checks. Import what you need explicitly, e.g.
`from mi_tutorial import checks, models, plotting, train`.
"""

__version__ = "0.1.0"
