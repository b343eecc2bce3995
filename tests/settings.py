"""Settings of the test suite: the product's settings with the development defaults made
explicit, as `make run` makes them.

studyapp.settings defaults DEBUG to off and then needs DJANGO_SECRET_KEY. pytest-django
imports the settings module named in pyproject.toml while pytest starts, before any
conftest.py is read, so this module is where the variable can still be set in time. It is
set in the environment, not only here, so the servers and workers that tests start in
subprocesses read the same configuration. pytest-django still runs each test with
settings.DEBUG = False; what DJANGO_DEBUG=1 decides is the rest (the dev secret key, no
https redirect, plain static file storage), as before.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from studyapp.settings import *  # noqa: F403
