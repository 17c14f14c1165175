# nbgrader for the teacher's server on the hub (course/jupyterhub/jupyterhub_config.py puts this folder first on
# JUPYTER_CONFIG_PATH): the course folder is ~/vae-notes, laid out by `python -m course course ~/vae-notes`, and its
# own nbgrader_config.py (course/nbgrader_config.py: course id, autograde's time limits) applies to Formgrader too.
import os

c = get_config()  # noqa: F821 (nbgrader runs this file with get_config defined)

c.CourseDirectory.root = os.path.join(os.path.expanduser("~"), "vae-notes")
c.Exchange.root = os.environ.get("VAE_NOTES_EXCHANGE", "/srv/nbgrader/exchange")
if os.path.isfile(os.path.join(c.CourseDirectory.root, "nbgrader_config.py")):
    load_subconfig(os.path.join(c.CourseDirectory.root, "nbgrader_config.py"))  # noqa: F821
