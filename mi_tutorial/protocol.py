"""What a check reports to `mi-tutorial check` (see `mi_tutorial.grading`).

Kept apart, with no imports, so that a learner's notebook, which imports the checks,
does not also import the grader and its dependencies.
"""

REPORT_ENV = "MI_TUTORIAL_CHECK_REPORT"  # names the JSON-lines file checks append to
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
