"""The sound server's device lists, as the studio's hot-plug check asks for them."""

from __future__ import annotations

import os
import signal
import time

from desktop.media.pulse import sound_server_devices
from tests.fixtures.devices import PrivatePulse


def test_a_sound_server_that_does_not_answer_never_freezes_the_check(
    private_pulse: PrivatePulse,
) -> None:
    """The window asks every 3 s on its own thread: a frozen server must not freeze it."""
    first = sound_server_devices(max_age_s=0)
    assert first is not None
    module = private_pulse.plug_sink("bc_headset", "Studio_headset")
    os.kill(private_pulse.pid, signal.SIGSTOP)  # each pactl now waits its full timeout
    try:
        started = time.monotonic()
        stale = sound_server_devices(max_age_s=0, background=True)
        assert time.monotonic() - started < 0.2
        assert stale == first  # the last look, at once
    finally:
        os.kill(private_pulse.pid, signal.SIGCONT)
    # Answering again, the next checks see the headset plugged in meanwhile.
    deadline = time.monotonic() + 15
    while True:
        current = sound_server_devices(max_age_s=0, background=True)
        if current is not None and any(s.name == "bc_headset" for s in current.sinks):
            break
        assert time.monotonic() < deadline, "the headset never appeared"
        time.sleep(0.2)
    private_pulse.unplug(module)
