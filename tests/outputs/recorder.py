"""A status callback for direct outputs that keeps every change, for the output tests to read."""

from __future__ import annotations

from desktop.media.outputs.output import OutputPhase, OutputStatus
from tests.waiting import wait_until


class Recorder:
    """Collects every status change per output, thread-safely enough for CPython lists."""

    def __init__(self) -> None:
        self.history: dict[str, list[OutputStatus]] = {}

    def __call__(self, status: OutputStatus) -> None:
        self.history.setdefault(status.output_id, []).append(status)

    def phases(self, output_id: str) -> list[OutputPhase]:
        """Distinct consecutive phases an output went through."""
        phases: list[OutputPhase] = []
        for status in self.history.get(output_id, []):
            if not phases or phases[-1] is not status.phase:
                phases.append(status.phase)
        return phases

    def wait_for(self, output_id: str, phase: OutputPhase, timeout_s: float = 20.0) -> None:
        """Block until ``output_id`` has been in ``phase``; a failure names the phases it had."""
        wait_until(
            lambda: phase in self.phases(output_id),
            timeout_s,
            f"{output_id} to reach {phase.name}",
            state=lambda: self.phases(output_id),
        )
