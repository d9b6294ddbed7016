"""File ▸ Settings: Setup again over the running studio (devices switch when it closes)."""

from __future__ import annotations

from collections.abc import Callable

from desktop.session.settings import Secrets, SettingsStore
from desktop.session.state import ProblemCode
from desktop.session.studio import Studio
from desktop.ui.devices import AudioFactory, VideoFactory
from desktop.ui.notice_widget import Notice, Severity
from desktop.ui.setup_dialog import SetupDialog
from desktop.ui.studio_window import StudioWindow


def reopen_setup(
    window: StudioWindow,
    studio: Studio,
    store: SettingsStore,
    secrets: Secrets,
    cameras: Callable[[], dict[str, VideoFactory]],
    microphones: Callable[[], dict[str, AudioFactory]],
    screens: Callable[[], dict[str, VideoFactory]],
) -> SetupDialog:
    """Open Setup (non-blocking) over the studio ``window``; on OK the choices are applied and
    saved, and a change of connection is said to apply at the next start.

    Args:
        window: The studio window (it takes the devices the dialog ends with).
        studio: The studio (its settings and devices).
        store: Where the settings are saved.
        secrets: Keyring access.
        cameras: Lists the cameras now connected.
        microphones: Lists the microphones now connected.
        screens: Lists the screens.
    """
    settings = studio.settings
    mode_before = (settings.connect_mode, settings.livekit_url, settings.backend_url,
                   settings.room_name, settings.appointment_id)  # fmt: skip
    dialog = SetupDialog(
        settings, secrets, studio.camera, studio.mic, window,
        cameras=cameras(), microphones=microphones(), screens=screens(),
        camera_label=settings.camera, mic_label=settings.microphone, from_studio=True,
        list_cameras=cameras, list_microphones=microphones,
    )  # fmt: skip

    def closed(result: int) -> None:
        # The dialog stops a device it switched away from: the studio takes the new ones
        # whatever the answer, so it never keeps a stopped device.
        if dialog.camera is not None and dialog.camera is not studio.camera:
            window.use_camera(dialog.camera)
            studio.clear_problem(ProblemCode.SYNTHETIC_CAMERA)
        if dialog.mic is not None and dialog.mic is not studio.mic:
            window.use_mic(dialog.mic, dialog.mic_label)
            studio.clear_problem(ProblemCode.SYNTHETIC_MICROPHONE)
        if result != 1:
            return
        dialog.apply()
        window.hotkeys.apply(settings.hotkeys)
        try:
            store.save(settings)
        except OSError as error:
            window.show_error(f"Settings could not be saved ({error.strerror}).",
                              "They apply until you quit.")  # fmt: skip
        after = (settings.connect_mode, settings.livekit_url, settings.backend_url,
                 settings.room_name, settings.appointment_id)  # fmt: skip
        if after != mode_before:
            window.notices.post(Notice(
                "settings-connection", Severity.INFO,
                "The new connection settings are saved.",
                "They are used the next time you start the studio.",
            ))  # fmt: skip

    dialog.finished.connect(closed)
    dialog.open()
    return dialog
