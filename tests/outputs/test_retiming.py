"""The writer's clock after a stall: always forwards, per stream (the soak found mp4's EINVAL).

After the machine stalls, the program's sound catches up in a burst and the writer drops to the
next keyframe. Sound made to catch up can be older than that keyframe; written as it came, the
audio stream's time went backwards and the mp4 muxer ended the recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from desktop.media.outputs.encoder import EncodedPacket
from desktop.media.outputs.output import Retimer

VIDEO_TB = Fraction(1, 1000)
AUDIO_TB = Fraction(1, 48_000)
FPS = 30


def video(ms: int, keyframe: bool = False) -> EncodedPacket:
    return EncodedPacket(True, b"v", ms, ms, VIDEO_TB, keyframe)


def audio(ms: int) -> EncodedPacket:
    return EncodedPacket(False, b"a", ms * 48, ms * 48, AUDIO_TB, False)


def _write(retimer: Retimer, packets: Sequence[EncodedPacket | None]) -> dict[bool, list[float]]:
    written: dict[bool, list[float]] = {True: [], False: []}
    for packet in packets:
        if packet is None:
            retimer.resync()
            continue
        timing = retimer.retime(packet)
        if timing is not None:
            written[packet.is_video].append(float(timing[1] * packet.time_base))
    return written


def test_a_session_starts_at_zero_on_a_keyframe() -> None:
    written = _write(Retimer(1 / FPS), [audio(980), video(1000), video(1033, True), audio(1040),
                                        video(1066), audio(1061)])  # fmt: skip
    assert written[True] == [0.0, 0.033]
    assert written[False] == [0.007, 0.028]


def test_after_a_stall_each_stream_only_goes_forwards_and_video_continues() -> None:
    before = [video(0, True), audio(0), video(33), audio(21), video(66), audio(42),
              audio(64), audio(85), video(100)]  # fmt: skip
    # A 4 s stall: the writer drops what is queued and waits for a keyframe; the audio made to
    # catch up for the stall arrives around it, some of it older than the keyframe.
    after = [None, audio(3900), video(4100, True), audio(3950), audio(4000), audio(4050),
             audio(4110), video(4133), audio(4130), video(4166)]  # fmt: skip
    retimer = Retimer(1 / FPS)
    written = _write(retimer, before + after)
    for times in written.values():
        assert times == sorted(times) and len(set(times)) == len(times), times
    # The picture continues one frame after the latest time written, not 4 s later.
    resumed = written[True][len([p for p in before if p.is_video])]
    assert abs(resumed - (0.1 + 1 / FPS)) < 0.002, resumed
    assert retimer.out_of_order >= 1
