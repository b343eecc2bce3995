"""The chat socket does not depend on the channel layer, and the Redis layer's idle reads
outlast its own blocking read (before: redis-py's 5 s read timeout fired first and the
socket closed with 1006 every 5-15 s)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings

from studyapp.chat.consumers import ChatConsumer
from tests.conftest import require


def test_the_chat_consumer_subscribes_to_no_channel_layer():
    assert get_channel_layer(ChatConsumer.channel_layer_alias) is None


@pytest.mark.redis
async def test_the_redis_layer_waits_idle_across_several_blocking_reads():
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    layer = channel_layers.make_backend("default")
    channel = await layer.new_channel()
    started = time.monotonic()
    try:
        # Three of channels_redis's 5 s blocking reads with nothing to read.
        async with asyncio.timeout(16):
            await layer.receive(channel)
    except TimeoutError:
        pass  # asyncio's timeout: the read was still waiting, as it should be
    finally:
        await layer.flush()
    assert time.monotonic() - started >= 15.9
