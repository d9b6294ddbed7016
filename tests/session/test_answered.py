"""Round trips to the room are bounded: a host's button never stays busy for ever."""

from __future__ import annotations

import asyncio

import pytest

from desktop.session.errors import SessionError, SessionErrorCode, answered


async def test_an_answer_that_never_comes_ends_in_plain_words_and_cancels_the_wait() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(SessionError) as raised:
        await answered(never, "the chat line", 0.2, "check the connection and send it again")
    assert raised.value.code is SessionErrorCode.NO_ANSWER
    assert raised.value.detail == "the room did not confirm the chat line within 0.2 s"
    assert raised.value.hint == "check the connection and send it again"
    assert never.cancelled()  # the SDK's wait is let go, not left pending


async def test_an_answer_in_time_is_returned_as_is() -> None:
    async def quick() -> str:
        await asyncio.sleep(0.01)
        return "confirmed"

    assert await answered(quick(), "the chat line", 5.0, "") == "confirmed"
