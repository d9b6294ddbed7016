"""The program mix, heard by FFT: every voice on stage, none clipped, muted ones silent."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from desktop.media.audio_mix import BLOCK_SAMPLES, LIMIT_DBFS, SILENT_DBFS, AudioMixer
from desktop.media.frames import AudioFrame
from tests.fixtures.program import tone_block, tone_strength

HOST_HZ, GUEST_HZ, OTHER_HZ = 440.0, 1000.0, 1700.0


def run(mixer: AudioMixer, feeds: dict[str, float], blocks: int, level: float = 0.3,
        skip: set[str] | None = None) -> npt.NDArray[np.float32]:  # fmt: skip
    out = []
    for n in range(blocks):
        for source_id, hz in feeds.items():
            if source_id not in (skip or set()):
                mixer.push(source_id, tone_block(hz, n * BLOCK_SAMPLES, BLOCK_SAMPLES, level))
        out.append(mixer.mix())
    return (np.concatenate(out) / 32768).astype(np.float32)


def test_every_input_is_heard() -> None:
    mixer = AudioMixer()
    for source_id in ("host", "g1", "g2"):
        mixer.set_input(source_id)
    mix = run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ, "g2": OTHER_HZ}, 100)
    for hz in (HOST_HZ, GUEST_HZ, OTHER_HZ):
        assert tone_strength(mix, hz) > 100
    levels = mixer.levels()
    assert all(-12 < level.peak_dbfs < -9 for level in levels.values())  # 0.3 FS ≈ -10.5 dBFS


def test_loud_voices_together_never_clip() -> None:
    mixer = AudioMixer()
    for source_id in ("host", "g1", "g2"):
        mixer.set_input(source_id)
    # Three voices near full scale: their sum is ~2.4x full scale.
    mix = run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ, "g2": OTHER_HZ}, 200, level=0.8)
    limit = 10 ** (LIMIT_DBFS / 20)
    assert np.abs(mix).max() <= limit + 1e-3
    assert mixer.limited_blocks > 0
    # No wrap-around or hard clipping: all three tones still stand out, no sample sits at the rail.
    for hz in (HOST_HZ, GUEST_HZ, OTHER_HZ):
        assert tone_strength(mix, hz) > 50
    assert (np.abs(mix) > 0.999).sum() == 0


def test_a_muted_guest_is_silent_and_an_unknown_one_is_ignored() -> None:
    mixer = AudioMixer()
    mixer.set_input("host")
    mixer.set_input("g1", muted=True)
    mix = run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ, "backstage": OTHER_HZ}, 100)
    assert tone_strength(mix, HOST_HZ) > 100
    assert tone_strength(mix, GUEST_HZ) < 5
    assert tone_strength(mix, OTHER_HZ) < 5
    assert mixer.levels()["g1"].peak_dbfs == SILENT_DBFS
    mixer.set_input("g1", muted=False)
    mix = run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ}, 100)
    assert tone_strength(mix, GUEST_HZ) > 100


def test_a_stalled_source_leaves_silence_and_the_mix_goes_on() -> None:
    mixer = AudioMixer()
    mixer.set_input("host")
    mixer.set_input("g1")
    run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ}, 50)
    # g1 stalls: the mix keeps its length, the host goes on, g1 is counted as starved.
    mix = run(mixer, {"host": HOST_HZ, "g1": GUEST_HZ}, 100, skip={"g1"})
    assert mix.shape[0] == 100 * BLOCK_SAMPLES
    assert tone_strength(mix[BLOCK_SAMPLES * 5 :], GUEST_HZ) < 5
    assert tone_strength(mix, HOST_HZ) > 100
    assert mixer.levels()["g1"].starved_blocks >= 95
    # With no input at all, the mix is silence of the right length.
    empty = AudioMixer().mix()
    assert empty.shape[0] == BLOCK_SAMPLES and not empty.any()


def test_other_rates_and_stereo_are_mixed_in() -> None:
    mixer = AudioMixer()
    mixer.set_input("g1")
    out = []
    for n in range(100):
        t = (n * 160 + np.arange(160)) / 16_000
        mono = np.round(0.3 * 32767 * np.sin(2 * np.pi * GUEST_HZ * t)).astype(np.int16)
        stereo = np.repeat(mono, 2)
        mixer.push("g1", AudioFrame(stereo, 16_000, 2, 0, n))
        out.append(mixer.mix())
    mix = (np.concatenate(out) / 32768).astype(np.float32)
    assert tone_strength(mix, GUEST_HZ) > 50


def test_an_input_running_ahead_keeps_latency_bounded() -> None:
    mixer = AudioMixer()
    mixer.set_input("g1")
    for n in range(100):  # a second arrives at once
        mixer.push("g1", tone_block(GUEST_HZ, n * BLOCK_SAMPLES, BLOCK_SAMPLES))
    heard = 0
    while mixer.mix().any():
        heard += 1
    assert heard <= 21  # at most 200 ms was kept
