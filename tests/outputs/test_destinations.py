"""Destination checks: each kind of bad input gets its own words; keys never show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import (
    DestinationKind,
    mask_key,
    mask_url,
    preflight,
    rtmp_target,
)
from desktop.media.outputs.encoder import SOFTWARE_ENCODER, pick_video_encoder
from tests.fixtures.rtmp import RtmpServer, ffprobe_streams, free_port


@pytest.mark.parametrize(
    ("url", "key", "words"),
    [
        ("", "sk-live-77", "no server URL"),
        ("http://a.rtmp.youtube.com/live2", "sk-live-77", "'http://' is not a streaming URL"),
        ("a.rtmp.youtube.com/live2", "sk-live-77", "no scheme is not a streaming URL"),
        ("rtmp:///live2", "sk-live-77", "has no host"),
        ("rtmp://host:notaport/live2", "sk-live-77", "malformed"),
        ("rtmp://host", "sk-live-77", "no application path"),
        ("rtmp://host/live2", "", "stream key is empty"),
        ("rtmp://host/live2", "has space", "characters a key cannot have"),
    ],
)
def test_bad_destinations_are_named(url: str, key: str, words: str) -> None:
    with pytest.raises(MediaError, match=words) as raised:
        rtmp_target(url, key)
    assert raised.value.code is MediaErrorCode.INVALID_ARGUMENT
    assert raised.value.hint
    if key:
        assert key not in str(raised.value)


def test_platform_presets_need_a_key_and_take_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWITCH_RTMP_URL", "rtmp://127.0.0.1:1935/app")
    monkeypatch.delenv("YOUTUBE_RTMP_URL", raising=False)
    assert DestinationKind.TWITCH.preset_url() == "rtmp://127.0.0.1:1935/app"
    assert DestinationKind.YOUTUBE.preset_url() == "rtmp://a.rtmp.youtube.com/live2"
    with pytest.raises(MediaError, match="stream key is empty"):
        rtmp_target("rtmp://host/app/stream", "", key_required=True)
    target = rtmp_target("rtmps://host/app", "secret-key-123")
    assert target.port == 443 and target.publish_url == "rtmps://host/app/secret-key-123"
    assert target.masked == "rtmps://host/app/••••" and "secret" not in target.masked
    assert mask_url("rtmp://user:pw@host:1935/app/key?x=1") == "rtmp://host:1935/app/••••"
    assert mask_key("abcdefgh12345") == "••••2345" and mask_key("short") == "••••"


def test_preflight_names_refused_and_unresolvable(rtmp_server: RtmpServer) -> None:
    preflight(rtmp_target(rtmp_server.url("live"), "k-1"))
    with pytest.raises(MediaError, match="refused the connection on port"):
        preflight(rtmp_target(f"rtmp://127.0.0.1:{free_port()}/live", "k-1"))
    with pytest.raises(MediaError, match="does not resolve"):
        preflight(rtmp_target("rtmp://no-such-host.invalid/live", "k-1"))


def test_a_hardware_encoder_that_cannot_open_falls_back_to_libx264() -> None:
    # No GPU here: NVENC and QSV fail their test encode for real and libx264 is chosen.
    assert pick_video_encoder(640, 360, ("h264_nvenc", "h264_qsv")) == SOFTWARE_ENCODER


def test_headless_direct_to_two_destinations_and_a_file(
    rtmp_server: RtmpServer, tmp_path: object
) -> None:
    record = f"{tmp_path}/program.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "headless", "--width", "640", "--height", "360",
         "--rtmp", rtmp_server.url("live", "key-one"),
         "--rtmp", rtmp_server.url("live2", "key-two"),
         "--record", record, "--duration", "4"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    states: dict[str, list[str]] = {}
    for event in events:
        assert event["event"] == "output"
        states.setdefault(event["output"], []).append(event["state"])
    assert states == {
        "rtmp-1": ["connecting", "live", "stopped"],
        "rtmp-2": ["connecting", "live", "stopped"],
        "recording": ["connecting", "live", "stopped"],
    }
    assert "key-one" not in result.stdout + result.stderr
    assert "key-two" not in result.stdout + result.stderr
    for app in ("live", "live2"):
        recorded = rtmp_server.recordings(app)
        assert len(recorded) == 1
        assert {s["codec_name"] for s in ffprobe_streams(recorded[0])} == {"h264", "aac"}
    assert {s["codec_name"] for s in ffprobe_streams(record)} == {"h264", "aac"}  # type: ignore[arg-type]


def test_headless_bad_outputs_exit_2_or_5_with_one_line() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "desktop", "headless", "--rtmp", "http://example.com/live/k"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and "only rtmp:// and rtmps://" in bad.stderr
    env_missing = subprocess.run(
        [sys.executable, "-m", "desktop", "headless", "--rtmp", "youtube"],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert env_missing.returncode == 2 and "YOUTUBE_STREAM_KEY" in env_missing.stderr
    dead = subprocess.run(
        [sys.executable, "-m", "desktop", "headless", "--max-retries", "0",
         "--rtmp", f"rtmp://127.0.0.1:{free_port()}/live/key-x", "--duration", "30"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert dead.returncode == 5, dead.stderr
    assert "every output failed" in dead.stderr
    assert '"state": "failed"' in dead.stdout and "key-x" not in dead.stdout
