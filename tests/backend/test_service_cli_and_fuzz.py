"""The backend as an operator runs it (CLI, a real process, the real livekit-server and the
Egress stand-in), a property-based fuzz of the action API (whatever the body, a clear 4xx/2xx/
502/504, never a 500, never a hang), schemathesis against the generated OpenAPI document, and
the CLI's credential lifetimes and revocation."""

from __future__ import annotations

import dataclasses
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

from backend.store import SecretBox
from tests.fixtures import processes
from tests.fixtures.egress import LiveKitWithEgress
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
    "update_layout",
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
    db: Path
    cli: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def backend_process(
    real_livekit: LiveKitWithEgress, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("backend")
    db = folder / "backend.sqlite3"
    env = {
        **os.environ,
        "LIVEKIT_URL": real_livekit.livekit.ws_url,
        "LIVEKIT_API_KEY": real_livekit.livekit.api_key,
        "LIVEKIT_API_SECRET": real_livekit.livekit.api_secret,
        "LIVEKIT_EGRESS_URL": real_livekit.egress.url,
        "BROADCASTER_SECRET_KEY": SecretBox.new_key(),
        "BROADCASTER_RECORDING_DIR": "recordings",
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
    # Its log goes to a file: an unread pipe fills up and freezes the service mid-test.
    log = (folder / "backend.log").open("wb")
    server = processes.popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
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
        yield ServiceProcess(url, credential, "fuzz-1", db, cli, env)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


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
    assert status in (200, 400, 403, 404, 409, 502, 504), (status, answer, body)
    if status != 200:
        assert set(answer) == {"error", "details"} and answer["details"]
    assert time.monotonic() - started < 20


def test_database_is_readable_by_its_owner_only(backend_process: ServiceProcess) -> None:
    for path in backend_process.db.parent.glob(backend_process.db.name + "*"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def _cli(service: ServiceProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*service.cli, *args], env=service.env, capture_output=True, text=True, timeout=60
    )


def test_credentials_expire_and_revoke_works(backend_process: ServiceProcess) -> None:
    body = json.dumps({"action": "get_room_status", "roomName": "appointment-none-1"}).encode()

    def status_with(credential: str) -> int:
        other = dataclasses.replace(backend_process, credential=credential)
        return _post(other, body)[0]

    made = _cli(backend_process, "host", "add", "host-revoke")
    first = made.stdout.strip()
    second = _cli(backend_process, "host", "add", "host-revoke").stdout.strip()
    assert status_with(first) == 404 and status_with(second) == 404  # accepted: no such room
    revoked = _cli(backend_process, "revoke", "--credential", first)
    assert revoked.returncode == 0, revoked.stderr
    assert status_with(first) == 401 and status_with(second) == 404
    revoked = _cli(backend_process, "revoke", "--user", "host-revoke")
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert status_with(second) == 401
    short = _cli(backend_process, "host", "add", "host-short", "--ttl-days", "0.00002")
    credential = short.stdout.strip()  # about 1.7 s
    deadline = time.monotonic() + 10
    while status_with(credential) != 401:
        assert time.monotonic() < deadline, "the credential never expired"
        time.sleep(0.2)
    assert _cli(backend_process, "viewer", "add", "v-1").returncode == 2  # needs --appointment


def test_schemathesis_finds_no_mismatch(backend_process: ServiceProcess, tmp_path: Path) -> None:
    """The generated schema says exactly what the API accepts: no 5xx, every status and body
    documented, and everything the schema calls invalid is refused."""
    checks = (
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,negative_data_rejection"
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{backend_process.url}/api/openapi.json",
            "--include-operation-id",
            "livekitAction",
            "-H",
            f"Authorization: Bearer {backend_process.credential}",
            "--checks",
            checks,
            "--max-examples",
            "60",
            "--workers",
            "2",
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "1515",
            "--generation-database",
            "none",
            "--no-color",
            "--request-timeout",
            "30",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
