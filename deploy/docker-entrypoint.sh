#!/bin/sh
# Entry point of the studyapp image: prepare the writable folders, then run the command.
set -eu
mkdir -p "${STUDYAPP_RUN_DIR:-/tmp/studyapp}"
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  # prometheus_client's multiprocess files must not outlive the processes that wrote them:
  # a restarted server would add its predecessor's counts to its own.
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi
if [ "${ALLOW_OWN_ADDRESS:-0}" = 1 ]; then
  # Prometheus (and any probe from outside) reaches this container by its address, which
  # is then the Host header Django checks: accept it besides the public name.
  own=$(python3 -c 'import socket; print(socket.gethostbyname(socket.gethostname()))')
  export DJANGO_ALLOWED_HOSTS="${DJANGO_ALLOWED_HOSTS:+$DJANGO_ALLOWED_HOSTS,}$own"
fi
exec "$@"
