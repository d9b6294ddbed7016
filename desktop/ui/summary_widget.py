"""The end-of-stream summary: time on air, audience, recordings, and the host's earnings."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from desktop.session.studio import StreamSummary
from desktop.ui import words
from desktop.ui.cost_words import cost_lines
from desktop.ui.sparkline import quality_sparkline, quality_trend


def summary_lines(summary: StreamSummary) -> list[tuple[str, str]]:
    """(label, value) rows of the summary, in the order a host reads them."""
    on_air = words.elapsed(summary.duration_s) if summary.duration_s else "not live"
    rows = [
        ("Time live", on_air),
        ("Peak participants", str(summary.peak_participants)),
        ("Peak publishers", str(summary.peak_publishers)),
    ]
    rows += [("Recording", r) for r in summary.recordings] or [("Recording", "none")]
    for gap in summary.recording_gaps:
        start = time.strftime("%H:%M:%S", time.localtime(gap.start_ms / 1000))
        if gap.end_ms:
            end = time.strftime("%H:%M:%S", time.localtime(gap.end_ms / 1000))
            rows.append(("Cloud recording gap", f"{start}–{end} ({gap.duration_s:.0f} s missing)"))
        else:
            rows.append(("Cloud recording gap", f"from {start} to the end (not recorded again)"))
    for identity, samples in sorted(summary.quality_history.items()):
        line = quality_sparkline(samples, summary.ended_ms or samples[-1].timestamp_ms)
        if line:
            rows.append((f"Connection: {identity}", f"{line}  {quality_trend(samples)}"))
    revenue = summary.revenue
    if revenue:
        currency = summary.currency

        def money(key: str) -> str:
            return words.money(revenue.get(key, 0.0), currency)

        rate = revenue.get("commissionRate", 20.0)
        rows += [
            ("Audience multiplier", f"×{revenue.get('revenueMultiplier', 0):.2f}"),
            ("Duration bonus", f"×{revenue.get('durationBonus', 1):.2f}"),
            ("Total revenue", money("totalRevenue")),
            (f"Platform commission ({rate:.0f} %)", money("platformCommission")),
            ("Your share", money("creatorRevenue")),
        ]
    # What the show cost to run (participant-minutes, storage, egress) and the platform's net.
    rows += [row for row in cost_lines(summary.costs) if not row[0].startswith(
        ("Revenue", "Platform commission", "Creator"))]  # fmt: skip
    return rows


class SummaryWidget(QDialog):
    """The end-of-stream dialog (non-modal, so the host can read it beside the studio).

    Args:
        summary: What the stream came to.
        parent: The studio window.
    """

    def __init__(self, summary: StreamSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = summary
        self.setWindowTitle("Stream summary")
        self.setAccessibleName("Stream summary")
        layout = QVBoxLayout(self)
        heading = QLabel("The stream has ended", self)
        heading.setProperty("role", "title")
        layout.addWidget(heading)
        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for label, value in summary_lines(summary):
            shown = QLabel(value, self)
            shown.setAccessibleName(label)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label, shown)
            self.values.setdefault(label, shown)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setToolTip("Close the summary")
        close.setAccessibleName("Close")
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def text(self) -> str:
        """Every row as "label: value" lines."""
        return "\n".join(f"{k}: {v}" for k, v in summary_lines(self.summary))
