"""Fill the placeholders of studyapp.conf.template (stdlib only, plain text replacement).

    python deploy/nginx/render.py --listen 80 --server-name study.example.org \
        --upstream 127.0.0.1:8001 --upstream 127.0.0.1:8002 \
        --access-log /var/log/nginx/studyapp.access.log \
        [--tls-cert /etc/ssl/study/fullchain.pem --tls-key /etc/ssl/study/privkey.pem] \
        > /etc/nginx/conf.d/studyapp.conf

With a certificate, the same server also listens on 443 with TLS; plain HTTP on the first
address still reaches Django, whose SSL redirect sends browsers to https.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("studyapp.conf.template")
PLACEHOLDERS = ("LISTEN", "UPSTREAM_SERVERS", "ACCESS_LOG", "SERVER_NAME")


def render(template_text: str, **values: str) -> str:
    """Replace each @NAME@ with values[NAME] (names as in PLACEHOLDERS, any case).

    Every placeholder of the template must be given, and nothing unknown may be:
    a forgotten one would otherwise reach nginx as a literal "@NAME@".
    """
    values = {name.upper(): str(value) for name, value in values.items()}
    unknown = set(values) - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholders: {sorted(unknown)}")
    text = template_text
    for name in PLACEHOLDERS:
        marker = f"@{name}@"
        if marker in text:
            if name not in values:
                raise ValueError(f"no value for {marker}")
            text = text.replace(marker, values[name])
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"placeholders left unfilled: {sorted(set(left))}")
    return text


def upstream_lines(servers: list[str], *, max_fails: int = 1, fail_timeout: str = "2s") -> str:
    """One upstream `server` line per host:port; a failed worker is skipped for fail_timeout."""
    return "\n    ".join(
        f"server {s} max_fails={max_fails} fail_timeout={fail_timeout};" for s in servers
    )


def with_tls(text: str, *, cert: str, key: str, port: int = 443) -> str:
    """Add a TLS listener (and its certificate) after the rendered server_name line."""
    marker = "    server_name "
    at = text.index(marker)
    end = text.index("\n", at) + 1
    tls = (
        f"    listen {port} ssl;\n"
        f"    ssl_certificate {cert};\n"
        f"    ssl_certificate_key {key};\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    ssl_session_cache shared:studyapp_tls:10m;\n"
    )
    return text[:end] + tls + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--listen", default="80")
    parser.add_argument("--server-name", default="_")
    parser.add_argument(
        "--upstream",
        action="append",
        required=True,
        help="host:port of an ASGI worker (repeat for each)",
    )
    parser.add_argument("--access-log", default="/var/log/nginx/studyapp.access.log")
    parser.add_argument("--tls-cert", help="certificate chain (PEM): also listen on 443")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = render(
        args.template.read_text(),
        listen=args.listen,
        upstream_servers=upstream_lines(args.upstream),
        access_log=args.access_log,
        server_name=args.server_name,
    )
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_cert:
        text = with_tls(text, cert=args.tls_cert, key=args.tls_key)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
