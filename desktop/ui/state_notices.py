"""The notices the session's state calls for: each standing problem, a guest's media not
arriving, a destination or the recording stopping, the connection failing. Each stands while
its condition does and goes when it clears."""

from __future__ import annotations

from desktop.media.outputs.output import OutputKind, OutputPhase
from desktop.session.state import ConnectionState, ProblemCode, RoomState, Source
from desktop.ui.notice_widget import Notice, NoticeStackWidget, Severity

PROBLEM_WORDS = {
    ProblemCode.NO_SPEAKER: (
        Severity.WARNING,
        "Guests cannot be heard: no speaker or headphones could be opened on this computer.",
        "Plug in headphones or speakers, then pick them from the Speaker menu.",
    ),
    ProblemCode.SYNTHETIC_CAMERA: (
        Severity.WARNING,
        "No camera was found: guests see the synthetic test picture.",
        "Plug in a camera; it appears in the Camera menu.",
    ),
    ProblemCode.SYNTHETIC_MICROPHONE: (
        Severity.WARNING,
        "No microphone was found: guests hear a test tone.",
        "Plug in a microphone; it appears in the Mic menu.",
    ),
    ProblemCode.CLOUD_RECORDING_INTERRUPTED: (
        Severity.ERROR,
        "The cloud recording stopped. A new one is starting; the copy on this computer keeps "
        "recording meanwhile, and the summary will list the gap.",
        "Nothing to do unless this stays: then check the platform's recording service, and "
        "keep the local copy.",
    ),
}
"""Each standing problem as (severity, sentence, next step)."""


def post_state_notices(
    notices: NoticeStackWidget, state: RoomState, destination_names: dict[str, str]
) -> None:
    """Post the notices ``state`` calls for and clear those whose condition has cleared.

    Args:
        notices: The window's notice stack.
        state: The session's state now.
        destination_names: Each destination's name by id.
    """
    for code, (severity, text, step) in PROBLEM_WORDS.items():
        if any(p.code is code for p in state.problems):
            notices.post(Notice(f"problem:{code.name}", severity, text, step))
        else:
            notices.clear(f"problem:{code.name}")
    shown = set()
    for alert in state.media_alerts:  # a guest's camera or voice is not arriving (#32)
        key = f"media:{alert.key}"
        shown.add(key)
        what = "camera off and on" if alert.source is Source.CAMERA else "microphone off and on"
        notices.post(Notice(key, Severity.WARNING, alert.text,
                            f"If it stays, ask {alert.name} to turn their {what}, or "
                            "take them off stage and add them again."))  # fmt: skip
    notices.clear_prefix("media:", shown)
    egress = {o.name: o for o in state.outputs}
    direct = {s.output_id: s for s in state.direct_outputs}
    for destination_id, name in destination_names.items():
        key = f"destination:{destination_id}"
        failed = ""
        running = False
        if destination_id in egress:
            output = egress[destination_id]
            failed = output.error or "it failed" if output.phase is OutputPhase.FAILED else ""
            running = output.phase is OutputPhase.LIVE
        elif destination_id in direct:
            status = direct[destination_id]
            failed = status.error if status.phase is OutputPhase.FAILED else ""
            running = status.phase is OutputPhase.LIVE
        if failed:
            notices.post(Notice(key, Severity.ERROR, f"{name} stopped: {failed}",
                                f"Check {name}'s stream key and URL in Outputs, then "
                                "press Retry now."))  # fmt: skip
        elif running or not state.is_live:
            notices.clear(key)
    recording = direct.get("recording")
    if recording is not None and recording.kind is OutputKind.FILE:
        if recording.phase is OutputPhase.FAILED:
            notices.post(Notice("recording", Severity.ERROR,
                                f"Recording stopped: {recording.error}",
                                "Choose another folder with Record ▸ Choose folder, "
                                "then press Record."))  # fmt: skip
        elif recording.phase is OutputPhase.LIVE:
            notices.clear("recording")
    if state.connection is ConnectionState.FAILED:
        notices.post(Notice("connection", Severity.ERROR,
                            f"Could not connect: {state.error}",
                            "Open File ▸ Settings to check the connection, or press "
                            "Reconnect now."))  # fmt: skip
    elif state.connection is ConnectionState.CONNECTED:
        notices.clear("connection")
