from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from studyapp.core import metrics as core_metrics

logger = logging.getLogger(__name__)

# A probe must answer even when a dependency hangs (e.g. Redis accepting but not replying);
# an orchestrator would otherwise see a timeout instead of a 503 that names the culprit.
HEALTHZ_CHECK_TIMEOUT_S = 3.0


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _roundtrip_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    nonce = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
    message = await layer.receive(channel)
    if message.get("nonce") != nonce:
        raise RuntimeError("channel layer returned a different message")


@require_GET
@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in (
        ("database", sync_to_async(_check_database)),
        ("channel_layer", _roundtrip_channel_layer),
    ):
        try:
            async with asyncio.timeout(HEALTHZ_CHECK_TIMEOUT_S):
                await check()
            checks[name] = "ok"
        except Exception as exc:  # a health check reports every failure, whatever it is
            logger.warning("healthz: %s check failed: %s", name, type(exc).__name__)
            checks[name] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    endpoints = await _model_endpoints() if healthy else {}
    status = "ok" if healthy else "error"
    if endpoints.get("degraded"):
        status = "degraded"
    return JsonResponse({"status": status, **checks, **endpoints}, status=200 if healthy else 503)


def _live_endpoint_health() -> list:
    # Imported here: core sits below every app (core <- studies <- participation <- chat),
    # and only this one probe reads the chats' health.
    from studyapp.chat.health import live_endpoint_health

    return live_endpoint_health()


async def _model_endpoints() -> dict:
    """The live studies' model endpoints, judged from their recent chats (chat.health):
    "degraded" names each failing endpoint and why. Still 200: the web process is fine and
    restarting it would not bring a model server back; the status says what to look at.
    Only endpoint names and counts, never anything a participant wrote."""
    try:
        async with asyncio.timeout(HEALTHZ_CHECK_TIMEOUT_S):
            health = await sync_to_async(_live_endpoint_health)()
    except Exception as exc:  # the process's own checks passed; say this one could not run
        logger.warning("healthz: model endpoint health failed: %s", type(exc).__name__)
        return {"model_endpoints": f"error: {type(exc).__name__}"}
    degraded = [h for h in health if h.degraded]
    if not degraded:
        return {"model_endpoints": "ok"}
    return {
        "model_endpoints": "degraded",
        "degraded": [
            {"endpoint": h.name, "id": h.endpoint_id, "reason": h.reason} for h in degraded
        ],
    }


def _metrics_authorized(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Digests first, so the comparison takes the same time whatever the lengths.
    return hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(),
        hashlib.sha256(expected.encode()).digest(),
    )


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape. Without the bearer token it does not exist (404, not 401)."""
    if not _metrics_authorized(request):
        raise Http404
    return HttpResponse(core_metrics.render(), content_type=core_metrics.CONTENT_TYPE)
