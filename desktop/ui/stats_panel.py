"""The Stats panel: figures like OBS's stats dock (CPU, uplink, program, destinations)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from desktop.media.cpu import ProcessCpu
from desktop.media.outputs.output import OutputPhase
from desktop.session.link_stats import format_bitrate
from desktop.session.receive_drops import RECEIVE_DROPS
from desktop.session.studio import Studio
from desktop.ui import words
from desktop.ui.bridge import StateBridge
from desktop.ui.cost_words import cost_lines


class StatsPanel(QWidget):
    """Figures like OBS's stats dock: CPU, the uplink per layer, the program, each destination's
    bitrate and dropped packets, and frames the stage skipped."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Stats")
        layout = QVBoxLayout(self)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(self.form)
        layout.addStretch(1)
        self.rows: dict[str, QLabel] = {}
        self.cpu = ProcessCpu()
        """This process's CPU use (sampled at each refresh)."""
        self.stage_frames: Callable[[], tuple[int, int]] = lambda: (0, 0)
        """Frames the stage painted and skipped so far (set by the window)."""
        self.text = QLabel(self)
        """Every figure as text lines (for tests and copying)."""
        self.text.hide()

    def _row(self, label: str, value: str) -> None:
        shown = self.rows.get(label)
        if shown is None:
            shown = QLabel(value, self)
            shown.setAccessibleName(label)
            shown.setWordWrap(True)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(label, shown)
            self.rows[label] = shown
        shown.setText(value)

    def refresh(self) -> None:
        """Recompute the figures."""
        state = self.bridge.state
        rows: list[tuple[str, str]] = [
            ("CPU (this app)", f"{self.cpu.percent_of_one_core():.0f} % of one core")
        ]
        link = state.link
        if link is not None:
            rtt = "measuring" if link.rtt_ms is None else f"{link.rtt_ms:.0f} ms"
            rows.append(("Round trip to the server", rtt))
            rows.append(("Packet loss", f"{link.packet_loss_pct:.1f} %"))
            if link.available_bitrate_bps:
                carry = format_bitrate(link.available_bitrate_bps)
                rows.append(("Link can carry", f"about {carry}"))
            for layer in link.layers:
                name = "Sending " + words.source(layer.source) + (
                    f" layer {layer.rid}" if layer.rid else "")  # fmt: skip
                if not layer.active:
                    rows.append((name, "paused (nobody needs it)"))
                    continue
                held = "" if layer.limitation == "none" else f", held back by {layer.limitation}"
                rows.append((name, f"{layer.width}x{layer.height} {layer.fps:.0f} fps "
                                   f"{format_bitrate(layer.bitrate_bps)}{held}"))  # fmt: skip
            if link.audio_bitrate_bps:
                rows.append(("Sending microphone", format_bitrate(link.audio_bitrate_bps)))
        elif state.local is not None:
            for track in state.local.tracks:
                if track.is_video:
                    layers = " in 3 layers (simulcast)" if track.simulcast else ""
                    size = f"{track.width}x{track.height}" if track.width else "on"
                    rows.append((f"Sending {words.source(track.source)}", f"{size}{layers}"))
        program = self.studio.program_info()
        names = {d.id: d.name for d in self.studio.settings.destinations}
        if program.encoders:
            rows.append(("Encoders", words.encoders(program.encoders, names)))
        if program.encoder:
            rows.append(("Program", f"{program.width}x{program.height} {program.fps} fps, "
                                    f"encoder {program.encoder}"))  # fmt: skip
            lost = words.frames_lost("skipped", program.frames_skipped, program.frames_total)
            rows.append(("Encoder frames", f"{lost} (the computer could not keep up)"))
        for status in state.direct_outputs:
            if status.phase is OutputPhase.STOPPED:
                continue
            dropped = words.frames_lost("dropped", status.dropped_frames, status.video_frames)
            if status.kind.value != "rtmp":
                rows.append(("Recording", f"frames {dropped} (the disk could not keep up)"))
                continue
            name = names.get(status.output_id, status.output_id)
            if status.phase is OutputPhase.LIVE:
                rate = format_bitrate(status.bitrate_bps)
                rows.append((name, f"{rate}, frames {dropped} (the network could not keep up)"))
            else:
                rows.append((name, f"not sending; frames {dropped}"))
        rows.append(("Received frames dropped", words.receive_drops(RECEIVE_DROPS)))
        shown, skipped = self.stage_frames()
        total = shown + skipped
        share = f" ({skipped / total:.1%})" if total else ""
        rows.append(("Stage frames", f"{shown} shown, {skipped} skipped{share} "
                                     "(the display could not keep up)"))  # fmt: skip
        if state.local is not None:
            rows.append(("Your connection", words.quality(state.local.quality)))
        rows += cost_lines(state.costs)
        watch = state.media_watch
        if watch.stalls:
            rows.append(("Guests' media", f"{watch.stalls} stalled, asked again "
                         f"{watch.retries} times, {watch.recovered} recovered, "
                         f"{watch.alerts} told you"))  # fmt: skip
        for change in state.adaptations[-3:]:
            rows.append(("Adapted", change.description))
        for label, value in rows:
            self._row(label, value)
        for label in set(self.rows) - {label for label, _ in rows}:
            self.rows[label].setText("—")
        self.text.setText("\n".join(f"{label}: {value}" for label, value in rows))
