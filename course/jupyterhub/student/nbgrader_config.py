# nbgrader for a student's server on the hub (course/jupyterhub/jupyterhub_config.py puts this folder first on
# JUPYTER_CONFIG_PATH): fetch and submit through nbgrader's exchange.
import os

c = get_config()  # noqa: F821 (nbgrader runs this file with get_config defined)

c.CourseDirectory.course_id = "vae-notes"
c.Exchange.root = os.environ.get("VAE_NOTES_EXCHANGE", "/srv/nbgrader/exchange")
# Submissions carry the hub's user name. nbgrader would take the system account's name instead: the same account
# for every user under the test's spawner, `jupyter-<name>` on The Littlest JupyterHub.
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
