"""The course's own tooling: build the notebooks, check and grade them, hand them out,
train the shipped models, and the `mi-tutorial` command.

It sits above the learner's library (`mi_tutorial.data`, `models`, `metrics`, `train`,
`plotting`, `sae`, `checks`): it imports them, and none of them imports it. Its heavier
dependencies (jupytext, nbclient, JupyterLab) come with the `course` extra:
`pip install -e ".[course]"`.
"""
