# JupyterHub for the vae-notes course with nbgrader's exchange: one teacher, the students, one machine.
#
# tests/test_jupyterhub.py starts a real hub with this file, unchanged, and runs a course through it on 127.0.0.1;
# docs/teacher-guide.md ("JupyterHub") says what that proves and what to change on a real hub. To try it yourself:
#
#     mkdir -p /tmp/hub/exchange && chmod 777 /tmp/hub/exchange && cd /tmp/hub
#     PATH="$REPO/book/node_modules/.bin:$PATH" VAE_NOTES_HUB_DIR=/tmp/hub \
#         $REPO/.venv/bin/jupyterhub -f $REPO/course/jupyterhub/jupyterhub_config.py
#
# ($REPO: this repository after `make setup`, which installs jupyterhub and configurable-http-proxy). The hub keeps its
# database and cookie secret in the folder it is started from, and listens on http://127.0.0.1:8000 (`--port N`).
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub runs this file with get_config defined)

TEACHERS = ["teacher"]
STUDENTS = ["student1", "student2"]
# The teacher's and the students' Jupyter configuration: the folders teacher/ and student/ beside this file. On a
# real hub, a copy that every user can read (the repository itself holds the solutions: keep it private).
ROLE_CONFIG = Path(__file__).resolve().parent

c.JupyterHub.ip = "127.0.0.1"  # loopback; a real hub listens behind HTTPS (docs/teacher-guide.md)
c.JupyterHub.hub_ip = "127.0.0.1"
c.Authenticator.allowed_users = set(TEACHERS + STUDENTS)
c.JupyterHub.load_groups = {"teachers": {"users": TEACHERS}, "students": {"users": STUDENTS}}

# Every server runs the hub's Python environment (the course's requirements and `helpers` installed in it) and opens
# JupyterLab, with nbgrader's configuration for its role: the teacher gets all of nbgrader's tools and the course
# folder ~/vae-notes; a student gets the Assignments list and Validate, not Formgrader.
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
# A class logging in at once on a busy machine: two minutes for a server to start (JupyterHub's defaults: 60 s to
# start, 30 s to answer).
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def jupyter_config_path(spawner) -> str:
    return str(ROLE_CONFIG / ("teacher" if spawner.user.name in TEACHERS else "student"))


c.Spawner.environment = {"JUPYTER_CONFIG_PATH": jupyter_config_path}

# --- A test or a trial on one machine only: replace this part on a real hub (docs/teacher-guide.md). -------------
# Anyone listed logs in with any password. Every user's server runs as the account that started the hub, in its own
# home <dir>/home/<name>: no isolation between users. nbgrader's exchange is <dir>/exchange (on a real hub, nbgrader's
# default /srv/nbgrader/exchange, which the nbgrader_config.py files use when VAE_NOTES_EXCHANGE is not set).
HUB_DIR = Path(os.environ.get("VAE_NOTES_HUB_DIR", "/srv/vae-notes-hub")).resolve()
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(HUB_DIR / "home" / "{username}")
c.Spawner.environment["VAE_NOTES_EXCHANGE"] = str(HUB_DIR / "exchange")
if os.getuid() == 0:  # a container's root: Jupyter Server refuses root unless told
    c.Spawner.args = ["--ServerApp.allow_root=True"]
# A token for scripts (the test): a service that may start and stop servers and make tokens for the users.
if os.environ.get("VAE_NOTES_HUB_API_TOKEN"):
    c.JupyterHub.services = [{"name": "course-admin", "api_token": os.environ["VAE_NOTES_HUB_API_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                                "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}]
