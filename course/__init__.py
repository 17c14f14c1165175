"""The classroom on nbgrader: tag the main notebooks, build the student versions, grade submissions.

    python -m course tag [NOTEBOOK ...]     # add nbgrader cell metadata to the main notebooks
    python -m course build                  # = make assignments: notebooks/assignments/ via nbgrader
    python -m course handout [--out ZIP]    # = make handout: the students' zip (no solutions)
    python -m course course DIR             # lay out an nbgrader course folder (JupyterHub, formgrader)
    python -m course grade DIR [--csv F] [--jobs N] [--timeout S]   # = make grade

The main notebooks are the one source. Each exercise is a markdown heading `### Exercise N.M — title`, a solution
cell (code between `### BEGIN SOLUTION` and `### END SOLUTION`) and a test cell that imports and calls its
`check_*`, with a `### BEGIN HIDDEN TESTS` part on inputs drawn from a seed only the main notebook holds. `tag` gives
them nbgrader's metadata (solution cell; autograded test cell worth 1 point; every other cell locked).
`build` runs nbgrader's own `generate_assignment` on a course folder laid out in a temporary directory and copies the
student versions to notebooks/assignments/. `grade` autogrades each submission with nbgrader in its own temporary
folder and writes one CSV row per student and assignment as soon as that submission is graded.
"""
