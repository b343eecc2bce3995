"""The ASGI application is ready before it serves: importing it imports the URLconf."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_asgi_app_imports_every_view_module_up_front():
    # Django imports the URLconf on the first request, on the event loop: the analysis
    # stack behind it (scipy, statsmodels, pandas) took about 5 s of CPU there, and every
    # chat socket of a fresh worker froze meanwhile. asgi.py does it at start-up instead.
    code = (
        "import os, sys; os.environ['DJANGO_DEBUG'] = '1'; import studyapp.asgi; "
        "print('studyapp.urls' in sys.modules, 'studyapp.analysis.views' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["True", "True"], out.stderr[-2000:]


def test_chat_sockets_carry_the_session_and_no_user():
    # Channels' AuthMiddleware loaded the user from the database on every socket's
    # connect; the chat consumer authorises by the session's link grant only.
    from channels.sessions import CookieMiddleware, SessionMiddleware

    from studyapp.asgi import application

    stack = application.application_mapping["websocket"].application
    assert isinstance(stack, CookieMiddleware)
    assert isinstance(stack.inner, SessionMiddleware)
    assert type(stack.inner.inner).__name__ == "URLRouter"
