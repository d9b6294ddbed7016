"""Hot-plug: devices plugged in or out while the studio runs, said in notices.

The microphone or speaker in use going away falls back to the system default (the show goes
on) with a notice naming it; the system's default microphone changing is followed when the
host chose "System default microphone".
"""

from __future__ import annotations

from desktop.session.studio import Studio
from desktop.ui.control_bar_widget import ControlBarWidget
from desktop.ui.devices import SYSTEM_DEFAULT_MIC
from desktop.ui.notice_widget import Notice, NoticeStackWidget, Severity

MENUS = {"camera": "Camera", "microphone": "Mic", "speaker": "Speaker"}
"""The menu each kind of device is picked from (named in the notices)."""


class HotplugCheck:
    """Compares the device lists with the last look, and says what changed.

    Args:
        studio: The studio (its speaker setting).
        controls: The control bar (its device listers, the microphone in use, the fallbacks).
        notices: Where to say it.
    """

    def __init__(
        self, studio: Studio, controls: ControlBarWidget, notices: NoticeStackWidget
    ) -> None:
        self.studio, self.controls, self.notices = studio, controls, notices
        self.known = self._device_names()
        """The devices seen at the last look, by kind."""
        self.default_mic = controls.default_microphone()
        """The system's default microphone at the last look ('' when unknown)."""

    def _device_names(self) -> dict[str, set[str]]:
        try:
            return {
                "camera": set(self.controls.list_cameras()),
                "microphone": set(self.controls.list_microphones()),
                "speaker": set(self.controls.list_speakers()),
            }
        except Exception as error:  # a driver refusing to list: try again next time
            self.notices.post(Notice("devices", Severity.WARNING,
                                     f"Devices could not be listed: {error}"))  # fmt: skip
            return dict(self.known)

    def check(self) -> None:
        """Look for devices plugged in or out since last time and say so (see the module)."""
        now = self._device_names()
        for kind, names in now.items():
            for name in sorted(names - self.known.get(kind, set())):
                step = f"Pick it from the {MENUS[kind]} menu to use it."
                self.notices.post(
                    Notice(f"new-{kind}:{name}", Severity.INFO, f"New {kind}: {name}.", step)
                )
            for name in self.known.get(kind, set()) - names:
                self.notices.clear(f"new-{kind}:{name}")
        gone_mics = self.known.get("microphone", set()) - now["microphone"]
        gone_speakers = self.known.get("speaker", set()) - now["speaker"]
        self.known = now
        in_use = self.controls.mic_label
        if in_use and in_use in gone_mics:
            fallback = self.controls.fall_back_mic()
            instead = ("the system default microphone" if fallback == SYSTEM_DEFAULT_MIC
                       else f"“{fallback}”")  # fmt: skip
            self.notices.post(Notice(
                "microphone-gone", Severity.ERROR,
                f"Your microphone “{in_use}” was unplugged: guests now hear {instead}.",
                "Plug it back in and pick it from the Mic menu, or pick another microphone.",
            ))  # fmt: skip
        speaker = self.studio.settings.speaker
        if speaker and speaker in gone_speakers:
            self.controls.pick_speaker("", "System default")
            self.notices.post(Notice(
                "speaker-gone", Severity.WARNING,
                f"Your speaker “{speaker}” was unplugged: guests now play on the system "
                "default.", "Pick another from the Speaker menu.",
            ))  # fmt: skip
        default_mic = self.controls.default_microphone()
        if default_mic and default_mic != self.default_mic:
            if self.default_mic and self.controls.mic_label == SYSTEM_DEFAULT_MIC:
                self.notices.post(Notice(
                    "default-microphone", Severity.INFO,
                    f"Your system's default microphone is now “{default_mic}”: the studio "
                    "follows it.", "To keep one microphone whatever the system picks, choose it "
                    "from the Mic menu.",
                ))  # fmt: skip
            self.default_mic = default_mic
