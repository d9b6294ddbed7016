"""``LIVEKIT_URL`` as a list of a cluster's nodes: parsing, and refusals that stop at once."""

from __future__ import annotations

import pytest

from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.node_urls import connect_first, split_urls
from desktop.session.room_session import RoomSession
from tests.fixtures.livekit import LiveKitServer


def test_one_url_or_several_comma_separated() -> None:
    assert split_urls("wss://a.example.com") == ("wss://a.example.com",)
    assert split_urls(" wss://a:7880 , wss://b:7980,, ") == ("wss://a:7880", "wss://b:7980")
    assert split_urls("") == ()


async def test_a_refused_token_is_not_tried_on_the_next_node(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    # Every node of a cluster shares the keys: a refusal from the first would be repeated by
    # the second (here, a URL nothing listens on: trying it would fail as unreachable instead).
    bad_token = livekit_server.token("host", unique_room) + "x"
    session = RoomSession()
    try:
        with pytest.raises(SessionError) as raised:
            await connect_first(session, f"{livekit_server.ws_url},ws://127.0.0.1:9", bad_token, 5)
        assert raised.value.code is SessionErrorCode.TOKEN_REFUSED
    finally:
        await session.aclose()
