"""The platform's egress outputs in the shared phases: what the host reads for each of the
backend's words, and the remote-control API still passing the backend's own word on."""

from __future__ import annotations

import pytest

from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus
from desktop.session.broadcast_monitor import egress_phase, egress_word
from desktop.session.remote_control.dispatch import outputs_json
from desktop.session.state import EgressOutputStatus, RoomState
from desktop.ui import words
from spaces_contract.recording import RecordingState
from spaces_contract.status import DestinationState

BACKEND_WORDS = [
    *((OutputKind.FILE, s.value) for s in RecordingState if s is not RecordingState.UNKNOWN),
    *((OutputKind.RTMP, s.value) for s in DestinationState),
]
"""Every state the backend reports for its recording (a file) and a destination (RTMP);
UNKNOWN never reaches the room state (the monitor leaves the recording out)."""

CARD_WORDS = {
    "starting": "Connecting…", "active": "Live", "live": "Live", "ending": "Ending",
    "complete": "Finished", "failed": "Failed", "stopped": "Off",
}  # fmt: skip
"""What an egress card said for each word when the state kept the word itself."""


@pytest.mark.parametrize(("kind", "word"), BACKEND_WORDS)
def test_every_backend_word_has_a_phase_the_card_shows_as_before(
    kind: OutputKind, word: str
) -> None:
    output = EgressOutputStatus("out", kind, egress_phase(word))
    assert output.phase is not OutputPhase.OFF
    assert words.egress_card(output) == CARD_WORDS[word]
    # The remote-control API's "state" is still the backend's word.
    assert egress_word(output) == word


def test_destination_health_asks_the_same_phases_of_egress_and_direct_outputs() -> None:
    names = {"yt": "YouTube", "tw": "Twitch", "fb": "Facebook", "x": "X"}
    retrying = OutputStatus(
        "x", "rtmp://x", OutputKind.RTMP, OutputPhase.RETRYING, attempt=1, max_attempts=5
    )
    state = RoomState(
        outputs=(
            EgressOutputStatus("yt", OutputKind.RTMP, egress_phase("live")),
            EgressOutputStatus("tw", OutputKind.RTMP, egress_phase("starting")),
            EgressOutputStatus("fb", OutputKind.RTMP, egress_phase("failed"), "refused"),
        ),
        direct_outputs=(
            # The platform's word wins for a destination both report.
            OutputStatus("yt", "rtmp://yt/••••", OutputKind.RTMP, OutputPhase.FAILED),
            retrying,
        ),
    )
    assert words.destination_health(state, names) == [
        ("YouTube live", "ok"), ("Twitch connecting", "warn"), ("Facebook failed", "error"),
        ("X retrying (2 of 5)", "warn"),
    ]  # fmt: skip


def test_the_remote_api_lists_platform_outputs_with_the_backends_words() -> None:
    state = RoomState(
        outputs=(
            EgressOutputStatus("recording", OutputKind.FILE, egress_phase("active"), "", "a.mp4"),
            EgressOutputStatus("yt", OutputKind.RTMP, egress_phase("failed"), "refused"),
        )
    )
    assert outputs_json(state) == [
        {"output": "recording", "state": "active", "via": "platform"},
        {"output": "yt", "state": "failed", "via": "platform", "error": "refused"},
    ]
