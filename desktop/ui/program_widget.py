"""The Program monitor: what viewers see, with the controls that change it while live.

The monitor paints the program picture the encoder gets, so what the host sees is what goes
out: the same I420 buffer, copied, scaled down plane by plane to the monitor's size and
converted once, all on the monitor's worker thread (:mod:`desktop.ui.frame_worker`); the UI
thread only draws the finished picture. Beside it: a button per layout, a banner line, and a
row per guest with "Add to stage" / "Send backstage" and "Pin". A warning shows when the
stream is live but the program leaves the guests out, and a note when the cloud path (egress)
cannot show the chosen layout.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QHideEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.compositor import Layout
from desktop.media.frames import PixelFormat
from desktop.session.state import RoomState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.frame_worker import Converted, forget_when_destroyed, new_key, worker
from desktop.ui.preview_widget import FrameImage, draw_centred

logger = logging.getLogger(__name__)

LAYOUT_TIPS = {
    Layout.AUTO: "Screen with the speaker while sharing; otherwise everyone side by side or a grid",
    Layout.SOLO: "One person fills the picture: the pinned one, else whoever speaks",
    Layout.SIDE_BY_SIDE: "Everyone on stage in one row (up to four)",
    Layout.GRID: "Everyone on stage in a grid (up to nine)",
    Layout.SPEAKER: "The pinned or speaking person large, the others in a strip",
    Layout.SCREEN_STRIP: "The shared screen large, the people in a strip below",
    Layout.SCREEN_PIP: "The shared screen, with the speaker in a corner",
}
REFRESH_INTERVAL_MS = 66
"""The monitor repaints at about 15 fps: enough to judge a layout, cheap on a laptop."""
PROGRAM_WORKER = "program"
"""The worker thread the monitor's pictures are made on."""


class ProgramMonitorWidget(QWidget):
    """Paints the newest program picture, letterboxed.

    Args:
        studio: Whose program to show.
        parent: Qt parent.
    """

    def __init__(self, studio: Studio, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.setAccessibleName("Program monitor")
        self.setMinimumSize(240, 135)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # Painted whole every time (the background around the picture included): Qt need not
        # paint the splitter beneath it first.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._version = 0
        self._rect = QRect()
        self._rect_key: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._picture = FrameImage()
        self._key = new_key()
        forget_when_destroyed(self, PROGRAM_WORKER, self._key)
        self.pictures_shown = 0
        """Program pictures painted so far."""
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self.tick)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt naming)
        """Start composing for the monitor while it is visible."""
        super().showEvent(event)
        self.studio.set_program_preview(True)
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt naming)
        """Stop composing for the monitor (the live program goes on regardless)."""
        super().hideEvent(event)
        self._timer.stop()
        self.studio.set_program_preview(False)

    def picture_rect(self) -> QRect:
        """Where the program is painted inside the widget."""
        settings = self.studio.live.direct.settings
        key = (self.width(), self.height(), settings.width, settings.height)
        if key != self._rect_key:
            # Worked out once per size: through the Qt bindings this was a few per cent of the
            # UI thread's time during a show (it is asked on every tick and paint).
            size = QSize(settings.width, settings.height).scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio
            )
            rect = QRect(0, 0, size.width(), size.height())
            rect.moveCenter(self.rect().center())
            self._rect, self._rect_key = rect, key
        return QRect(self._rect)

    def tick(self) -> None:
        """Hand the newest program picture, if there is a new one, to the monitor's worker.

        The worker copies it out of the compositor (under the compositor's lock, off this
        thread) and scales and converts it to the picture's size here; the newest wins.
        """
        compositor = self.studio.live.direct.compositor
        if compositor.version == self._version:
            return
        self._version = compositor.version
        settings = self.studio.live.direct.settings
        width, height = settings.width, settings.height

        def fetch() -> tuple[npt.NDArray[np.uint8], PixelFormat, int, int] | None:
            picture = compositor.latest()
            return None if picture is None else (picture, PixelFormat.I420, width, height)

        area = self.picture_rect().size()
        worker(PROGRAM_WORKER).submit(self._key, fetch, (area.width(), area.height()),
                                      self._show)  # fmt: skip

    def _show(self, converted: Converted) -> None:
        """A picture is ready (on the UI thread): paint it, and only where it goes."""
        self._picture.show(converted)
        self.pictures_shown += 1
        self.update(self.picture_rect())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """The program, or a placeholder before the first picture."""
        painter = QPainter(self)
        image = self._picture.image
        if image is None:
            painter.fillRect(self.rect(), QColor("#0b0d11"))
            painter.setPen(QColor("#9aa3b2"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Program")
            return
        picture = self.picture_rect()
        if event.rect() != picture:
            painter.fillRect(event.rect(), QColor("#0b0d11"))
        draw_centred(painter, picture, image)


class ProgramWidget(QWidget):
    """The Program monitor with its layout buttons, banner, stage list and warnings.

    Args:
        studio: The studio whose program this is.
        bridge: State changes and command runner.
        parent: Qt parent.
    """

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.bridge = bridge
        self.setAccessibleName("Program")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        title = QLabel("Program — what viewers see", self)
        title.setObjectName("programTitle")
        outer.addWidget(title)
        self.warning = QLabel("", self)
        self.warning.setObjectName("programWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #1b1b1b; background: #f5c542; padding: 4px;")
        self.warning.hide()
        outer.addWidget(self.warning)
        self.monitor = ProgramMonitorWidget(studio, self)
        outer.addWidget(self.monitor, stretch=1)
        self.note = QLabel("", self)
        self.note.setObjectName("programNote")
        self.note.setWordWrap(True)
        self.note.hide()
        outer.addWidget(self.note)

        layouts = QGridLayout()
        self.layout_buttons: dict[Layout, QToolButton] = {}
        self._layout_group = QButtonGroup(self)
        self._layout_group.setExclusive(True)
        for index, layout in enumerate(Layout):
            button = QToolButton(self)
            button.setText(layout.label)
            button.setCheckable(True)
            button.setAccessibleName(f"Layout {layout.label}")
            button.setToolTip(LAYOUT_TIPS[layout])
            button.setChecked(layout is studio.live.direct.compositor.scene.layout)
            button.clicked.connect(lambda _=False, chosen=layout: self.choose_layout(chosen))
            self._layout_group.addButton(button)
            self.layout_buttons[layout] = button
            layouts.addWidget(button, index // 4, index % 4)
        outer.addLayout(layouts)

        banner_row = QHBoxLayout()
        self.banner_edit = QLineEdit(self)
        self.banner_edit.setPlaceholderText("Banner text (empty: none)")
        self.banner_edit.setAccessibleName("Banner text")
        self.banner_edit.setToolTip("A line of text along the bottom of the program")
        self.banner_edit.returnPressed.connect(self.apply_banner)
        banner_row.addWidget(self.banner_edit, stretch=1)
        show_banner = QPushButton("Show", self)
        show_banner.setAccessibleName("Show banner")
        show_banner.setToolTip("Show this banner in the program now (empty text removes it)")
        show_banner.clicked.connect(self.apply_banner)
        banner_row.addWidget(show_banner)
        outer.addLayout(banner_row)

        self.guest_rows = QVBoxLayout()
        outer.addLayout(self.guest_rows)
        self.stage_buttons: dict[str, QPushButton] = {}
        self.pin_buttons: dict[str, QPushButton] = {}
        self._rows: dict[str, QWidget] = {}
        studio.program.on_change(self.refresh)
        bridge.changed.connect(self._on_state)
        self.refresh()

    # -- commands ----------------------------------------------------------------------------

    def choose_layout(self, layout: Layout) -> None:
        """Switch the program's layout (live or not) and say what viewers see if it differs."""
        note = self.studio.set_program_layout(layout)
        self.layout_buttons[layout].setChecked(True)
        self._show_note(f"Viewers will see {note}." if note else "")
        if self.studio.live.egress_running:
            # The cloud stream and recording run on; only their composition changes.
            self.bridge.run(self.studio.live.follow_layout(), "change the cloud stream's layout")

    def apply_banner(self) -> None:
        """Show the banner text in the program (empty removes it)."""
        self.studio.set_banner(self.banner_edit.text())

    def toggle_stage(self, identity: str) -> None:
        """Add a guest to the stage or send them backstage."""
        in_program = identity not in self.studio.program.stage

        async def run() -> None:
            note = await self.studio.set_in_program(identity, in_program)
            self._show_note(note)

        self.bridge.run(run(), "change the stage")

    def toggle_pin(self, identity: str) -> None:
        """Pin a guest large (or unpin)."""
        pinned = self.studio.live.direct.compositor.scene.pinned
        self.studio.set_pinned("" if pinned == identity else identity)

    # -- showing -----------------------------------------------------------------------------

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        if old.remotes != new.remotes or old.is_live != new.is_live:
            self.refresh()

    def refresh(self) -> None:
        """Bring the guest rows, pin marks and warning up to date."""
        state = self.bridge.state
        stage = self.studio.program.stage
        pinned = self.studio.live.direct.compositor.scene.pinned
        for identity in [i for i in self._rows if i not in state.remotes]:
            row = self._rows.pop(identity)
            self.stage_buttons.pop(identity, None)
            self.pin_buttons.pop(identity, None)
            row.setParent(None)
            row.deleteLater()
        for identity, person in sorted(state.remotes.items()):
            if identity not in self._rows:
                row = QWidget(self)
                line = QHBoxLayout(row)
                line.setContentsMargins(0, 0, 0, 0)
                name = QLabel(person.name or identity, row)
                line.addWidget(name, stretch=1)
                stage_button = QPushButton(row)
                stage_button.clicked.connect(lambda _=False, i=identity: self.toggle_stage(i))
                pin_button = QPushButton("Pin", row)
                pin_button.setCheckable(True)
                pin_button.setToolTip("Keep them large in the Solo and Speaker layouts")
                pin_button.clicked.connect(lambda _=False, i=identity: self.toggle_pin(i))
                line.addWidget(stage_button)
                line.addWidget(pin_button)
                self.guest_rows.addWidget(row)
                self._rows[identity] = row
                self.stage_buttons[identity] = stage_button
                self.pin_buttons[identity] = pin_button
            on = identity in stage
            button = self.stage_buttons[identity]
            button.setText("Send backstage" if on else "Add to stage")
            button.setAccessibleName(f"{'Send backstage' if on else 'Add to stage'} {identity}")
            button.setToolTip(
                "Take them out of the program and back to the audience"
                if on
                else "Show them in the program and let them speak"
            )
            pin = self.pin_buttons[identity]
            pin.setEnabled(on)
            pin.setChecked(on and pinned == identity)
            pin.setAccessibleName(f"Pin {identity}")
        warning = self.studio.program.warning()
        self.warning.setText(warning)
        self.warning.setVisible(bool(warning))
