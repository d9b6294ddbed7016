"""Re-reading the audio devices while the microphone and the speaker are open (to see a headset
plugged in mid-show) leaves both streams running.

PortAudio lists devices only when it starts; restarting it under an open stream frees the
stream beneath its real-time thread, which crashed the test run with a segmentation fault.
The show runs in a child process, so a crash fails this test instead of ending pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.fixtures import processes

SHOW = textwrap.dedent(
    """
    import sys, time
    from desktop.media import portaudio
    from desktop.media.devices import list_audio_devices
    from desktop.media.microphone import NO_PROCESSING, MicrophoneSource
    from desktop.session.playback import GuestAudioPlayer

    mic = MicrophoneSource(processing=NO_PROCESSING)
    frames = mic.frames.subscribe("test", maxsize=10_000)
    mic.start()
    player = GuestAudioPlayer()
    player.start()
    try:
        deadline = time.monotonic() + 15  # sound servers take a moment to start a stream
        while time.monotonic() < deadline and (
            player.blocks_played < 50 or len(list(iter(frames.get_nowait, None))) == 0
        ):
            time.sleep(0.1)
        for _ in range(5):  # a host opening the device picker again and again
            list_audio_devices(refresh=True)
            time.sleep(0.2)
        held = portaudio.open_streams()
        played_before = player.blocks_played
        list(iter(frames.get_nowait, None))
        time.sleep(2.0)
        played = player.blocks_played - played_before
        got = len(list(iter(frames.get_nowait, None)))
    finally:
        mic.stop()
        import asyncio
        asyncio.run(player.aclose())
    print(f"open={len(held)} played={played} captured={got} left={len(portaudio.open_streams())}")
    """
)


def test_device_refresh_during_a_show_keeps_the_microphone_and_speaker_running(
    pulse_sink: str,
) -> None:
    child = processes.popen(
        [sys.executable, "-c", SHOW], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = child.communicate(timeout=60)
    finally:
        processes.stop(child)
    assert child.returncode == 0, f"the show died (status {child.returncode}): {err[-2000:]}"
    figures = dict(item.split("=") for item in out.split())
    # Both streams were open while the devices were re-read, and kept working after it:
    # 2 s are 200 blocks of 10 ms each way; a busy machine may deliver fewer, never none.
    assert figures["open"] == "2"
    assert int(figures["played"]) >= 50, out
    assert int(figures["captured"]) >= 50, out
    assert figures["left"] == "0"
