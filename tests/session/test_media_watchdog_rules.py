"""The media watchdog's rules, step by step on a clock the test moves (no server needed)."""

from __future__ import annotations

from desktop.session.media_watchdog import MediaProbe, MediaWatchdog, WatchdogTimings
from desktop.session.state import MediaWatch, ParticipantState, Source, StateStore


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


class Guest:
    """One guest's camera as a probe sees it: expected or not, last arrival, asks."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.expected = True
        self.last_s = 0.0
        self.asked = 0

    def arrives(self) -> None:
        self.last_s = self.clock()

    def probe(self) -> MediaProbe:
        def ask() -> None:
            self.asked += 1

        return MediaProbe("blue", Source.CAMERA, "program", lambda: self.expected,
                          lambda: self.last_s, ask)  # fmt: skip


def watchdog() -> tuple[MediaWatchdog, Clock, Guest, StateStore]:
    store = StateStore()
    store.update_remote("blue", name="Blue")
    clock = Clock()
    guest = Guest(clock)
    dog = MediaWatchdog(store, lambda: [guest.probe()], WatchdogTimings(), clock)
    return dog, clock, guest, store


def step(dog: MediaWatchdog, clock: Clock, seconds: float, guest: Guest | None = None) -> None:
    """Let ``seconds`` pass in half-second checks (media arriving throughout if ``guest``)."""
    for _ in range(int(seconds * 2)):
        clock.now_s += 0.5
        if guest is not None:
            guest.arrives()
        dog.check()


def test_media_arriving_needs_nothing() -> None:
    dog, clock, guest, store = watchdog()
    step(dog, clock, 60, guest)
    assert guest.asked == 0
    assert store.state.media_watch == MediaWatch()


def test_no_media_for_5_s_asks_again_then_tells_the_host_5_s_later() -> None:
    dog, clock, guest, store = watchdog()
    step(dog, clock, 4.5)  # expected since the first check, nothing arrived
    assert guest.asked == 0
    step(dog, clock, 1)
    assert guest.asked == 1
    assert not store.state.media_alerts
    step(dog, clock, 4.5)
    assert not store.state.media_alerts
    step(dog, clock, 1)
    (alert,) = store.state.media_alerts
    assert alert.text == "Blue's camera is not reaching the program — we are retrying"
    assert guest.asked == 2
    step(dog, clock, 10)  # still nothing: asked again every 5 s, one alert
    assert guest.asked == 4
    assert len(store.state.media_alerts) == 1
    assert store.state.media_watch == MediaWatch(stalls=1, retries=4, alerts=1, recovered=0)
    guest.arrives()
    step(dog, clock, 0.5)
    assert not store.state.media_alerts
    assert store.state.media_watch.recovered == 1


def test_a_retry_that_helps_tells_the_host_nothing() -> None:
    dog, clock, guest, store = watchdog()
    step(dog, clock, 3, guest)
    step(dog, clock, 5.5)
    assert guest.asked == 1
    step(dog, clock, 3, guest)
    assert not store.state.media_alerts
    assert store.state.media_watch == MediaWatch(stalls=1, retries=1, alerts=0, recovered=1)


def test_media_no_longer_expected_withdraws_the_alert() -> None:
    dog, clock, guest, store = watchdog()
    step(dog, clock, 11)
    assert store.state.media_alerts
    guest.expected = False  # muted, unpublished, off stage or gone
    step(dog, clock, 0.5)
    assert not store.state.media_alerts
    asked = guest.asked
    step(dog, clock, 20)
    assert guest.asked == asked
    # Expected again: the 5 s count starts afresh.
    guest.expected = True
    step(dog, clock, 4.5)
    assert guest.asked == asked


def test_the_alert_uses_the_identity_when_there_is_no_name() -> None:
    dog, clock, guest, store = watchdog()
    store.update(remotes={"blue": ParticipantState(identity="blue")})
    step(dog, clock, 11)
    (alert,) = store.state.media_alerts
    assert alert.name == "blue"
