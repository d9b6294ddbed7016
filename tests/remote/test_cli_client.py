"""``broadcaster remote`` against a running API: JSON out, exit statuses for scripts, and the
refusals in plain words (no token, wrong token, too many wrong tokens, nothing listening)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import keyring.backends.fail
import pytest

from desktop.media.compositor import Layout
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.remote_control.protocol import TOKEN_ENV
from desktop.session.remote_control.server import RateLimit, RemoteControlServer
from desktop.session.remote_control.tokens import token_for
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from tests.fixtures import processes
from tests.fixtures.rtmp import free_port
from tests.participants import wait_for

TOKEN = "cli-test-token"


async def remote(port: int, *words: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    """Run ``broadcaster remote`` (a real process); returns exit status, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    process = await asyncio.create_subprocess_exec(
        *processes.child_command([sys.executable]), "-m", "desktop", "remote",
        "--port", str(port), *words, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def local_studio() -> AsyncIterator[Studio]:
    """A local studio (no room) with synthetic devices."""
    studio = Studio(Settings(), Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio.use_devices(camera, mic)
    await studio.connect()
    try:
        yield studio
    finally:
        await studio.aclose()


async def test_the_client_prints_json_and_exits_as_scripts_expect(local_studio: Studio) -> None:
    limit = RateLimit(free_failures=2, lockout_s=60)
    server = RemoteControlServer(local_studio, TOKEN, rate_limit=limit)
    port = await server.start()
    try:
        status, out, _ = await remote(port, "status")
        assert status == 0
        assert json.loads(out)["layout"] == "auto"
        # Events as JSON lines, while another command changes the layout.
        following = asyncio.ensure_future(remote(port, "events", "--seconds", "8"))
        await wait_for(lambda: server.clients > 0, 30)
        status, out, _ = await remote(port, "layout", "grid")
        assert status == 0 and json.loads(out) == {"layout": "grid", "viewers_see": ""}
        events_status, lines, _ = await following
        assert events_status == 0
        events = [json.loads(line) for line in lines.splitlines()]
        assert any(e["event"] == "program" and e["data"]["layout"] == "grid" for e in events)
        assert local_studio.live.direct.compositor.scene.layout is Layout.GRID
        status, out, _ = await remote(port, "banner", "Back", "in", "five")
        assert status == 0 and json.loads(out)["banner"] == "Back in five"
        status, out, _ = await remote(port, "comment", "Ann", "Hello", "there", "duration_s=30")
        assert json.loads(out)["comment"] == {"name": "Ann", "text": "Hello there"}

        status, out, err = await remote(port, "stage", "3")
        assert status == 1
        assert err.strip() == "broadcaster remote: there is no guest 3: 0 guest(s) in the room"
        assert json.loads(out)["error"]["code"] == "not_possible"
        status, _, err = await remote(port, "chat", "hello")
        assert status == 1 and "chat needs a room" in err
        status, _, err = await remote(port, "layout", "grid", "now")
        assert status == 2 and "too many words for 'layout'" in err

        status, _, err = await remote(port, "status", token=None)
        assert status == 2 and TOKEN_ENV in err
        # Wrong tokens are refused; after two, even the right one waits.
        for _ in range(2):
            status, _, err = await remote(port, "status", token="guess")
            assert status == 4 and "wrong token" in err
        status, _, err = await remote(port, "status")
        assert status == 4 and "too many wrong tokens from this address: try again in" in err
        assert server.clients == 0
    finally:
        await server.aclose()
    status, _, err = await remote(port, "status")
    assert status == 3
    assert f"nothing is listening on 127.0.0.1:{port}" in err


def test_a_lock_out_doubles_and_a_right_token_clears_the_count() -> None:
    now = [100.0]
    limit = RateLimit(free_failures=3, lockout_s=5, clock=lambda: now[0])
    limit.failed("a")
    limit.failed("a")
    assert limit.wait_s("a") == 0
    limit.failed("a")
    assert limit.wait_s("a") == 5
    limit.failed("a")
    assert limit.wait_s("a") == 10
    assert limit.wait_s("b") == 0
    now[0] += 10
    assert limit.wait_s("a") == 0
    limit.succeeded("a")
    limit.failed("a")
    assert limit.wait_s("a") == 0


def test_the_token_comes_from_the_environment_else_the_keyring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    assert token_for(secrets, {TOKEN_ENV: "from-env"}) == "from-env"
    made = token_for(secrets, {})
    assert len(made) >= 32
    assert token_for(secrets, {}) == made  # kept (in the keyring, or for this run without one)


async def test_a_taken_port_says_so(local_studio: Studio) -> None:
    first = RemoteControlServer(local_studio, TOKEN, port=free_port())
    port = await first.start()
    second = RemoteControlServer(local_studio, TOKEN, port=port)
    try:
        with pytest.raises(OSError, match=f"the remote-control port {port} on 127.0.0.1 cannot "
                           "be used"):  # fmt: skip
            await second.start()
    finally:
        await first.aclose()
