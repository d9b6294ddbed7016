"""The backend as an operator runs it (CLI, a real process) and a property-based fuzz of the
action API: whatever the body, the answer is a clear 4xx/2xx/502, never a 500, never a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import free_port

ACTIONS = [
    "create_room",
    "join_room",
    "get_room_status",
    "end_stream",
    "start_recording",
    "stop_recording",
    "start_rtmp",
    "update_rtmp",
    "stop_rtmp",
    "get_broadcast_status",
    "mute_participant",
    "remove_participant",
    "update_participant_permissions",
]
FIELDS = [
    "appointmentId",
    "hostUserId",
    "maxParticipants",
    "recordingEnabled",
    "rtmpDestinations",
    "roomName",
    "userId",
    "userName",
    "permissions",
    "output",
    "layout",
    "quality",
    "destinations",
    "add",
    "remove",
    "identity",
    "source",
    "trackSid",
]


@dataclass
class ServiceProcess:
    url: str
    credential: str
    appointment_id: str


@pytest.fixture(scope="module")
def backend_process(
    livekit_server: LiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("backend")
    db = folder / "backend.sqlite3"
    env = {
        **os.environ,
        "LIVEKIT_URL": livekit_server.ws_url,
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
        "BROADCASTER_RECORDING_DIR": str(folder / "recordings"),
    }
    cli = [sys.executable, "-m", "backend", "--db", str(db)]
    added = subprocess.run(
        [*cli, "appointment", "add", "fuzz-1", "--host-user", "host-9", "--base-price", "20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    host = subprocess.run(
        [*cli, "host", "add", "host-9"], env=env, capture_output=True, text=True, timeout=60
    )
    credential = host.stdout.strip()
    assert host.returncode == 0 and credential.startswith("sb_")
    # Only a hash is stored: the credential itself is nowhere in the database.
    assert credential.encode() not in Path(db).read_bytes()
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "backend did not start"
            time.sleep(0.1)
    try:
        yield ServiceProcess(url, credential, "fuzz-1")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _post(service: ServiceProcess, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{service.url}/api/livekit",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {service.credential}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_cli_made_service_answers_a_real_create_room(backend_process: ServiceProcess) -> None:
    status, body = _post(
        backend_process, json.dumps({"action": "create_room", "appointmentId": "fuzz-1"}).encode()
    )
    assert status == 200, body
    status, body = _post(backend_process, b"x" * (70 * 1024))
    assert status == 413


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["fuzz-1", "rtmp://127.0.0.1:1/live/k", "youtube"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS) | st.text(max_size=20)},
    optional=dict.fromkeys(FIELDS, json_values),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies | json_values)
def test_fuzzed_bodies_never_500_never_hang(backend_process: ServiceProcess, body: object) -> None:
    started = time.monotonic()
    status, answer = _post(backend_process, json.dumps(body).encode())
    assert status in (200, 400, 403, 404, 409, 502), (status, answer, body)
    if status != 200:
        assert set(answer) == {"error", "details"} and answer["details"]
    assert time.monotonic() - started < 20
