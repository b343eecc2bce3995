"""Container health check: GET /healthz (or the path given) from this container's uvicorn.

    python deploy/healthcheck.py [/healthz]     (stdlib only; exit 0 = healthy)

Django answers only the host names in DJANGO_ALLOWED_HOSTS, so the request names the first
of them instead of 127.0.0.1. /healthz is exempt from the SSL redirect.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
    for host in hosts:
        if host and host != "*":
            return host.lstrip(".")  # ".example.org" allows example.org itself
    return "localhost"


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "/healthz"
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": probe_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"healthz: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
