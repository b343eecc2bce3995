"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

from __future__ import annotations

import os
from importlib import import_module

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyapp.settings")
# Initialise Django (apps, settings) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402

from studyapp.chat.routing import websocket_urlpatterns  # noqa: E402

if settings.DEBUG:
    # Serve static files from the ASGI server in development; production uses whitenoise
    # behind nginx.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

# The URLconf imports every view module (and through them the analysis stack: scipy,
# statsmodels, pandas), about 5 s of CPU. Django does that on the first HTTP request, on
# the event loop, which froze every chat socket of a fresh worker for those seconds; here
# it happens before the server accepts anything.
import_module(settings.ROOT_URLCONF)

# Sockets get the session (the participant's link grant), not the user: no chat socket is
# a signed-in user's, and Channels' AuthMiddleware loaded the user from the database on
# every connect, a hop onto the database thread that each new socket waited on.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            SessionMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
