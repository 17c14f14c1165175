# nbgrader configuration of the vae-notes course (https://nbgrader.readthedocs.io).
#
# `python -m course course DIR` lays out a full nbgrader course folder from the main notebooks
# (source/<assignment>/<assignment>_assignment.ipynb + this file); `make assignments` and `make grade` build one in
# a temporary folder and use it. A teacher on JupyterHub copies that folder to the course's home and keeps this file.
c = get_config()  # noqa: F821 (nbgrader runs this file with get_config defined)

c.CourseDirectory.course_id = "vae-notes"
# Student notebooks are `NN_name_assignment.ipynb` inside the assignment `NN_name`.
c.CourseDirectory.notebook_id = "*"

# What replaces each `### BEGIN SOLUTION … ### END SOLUTION` region in the student version.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograde: a fresh kernel per notebook, every cell runs even after an error, a cell running longer than this is
# interrupted (the rest of the notebook still runs); a test cell a student deleted is put back from the source.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
# nbgrader's default stops the whole notebook when a cell's output lags 4 s behind its reply (a busy machine):
# wait longer and never fail a notebook for it.
c.Execute.iopub_timeout = 30
c.Execute.raise_on_iopub_timeout = False
c.OverwriteCells.add_missing_cells = True
