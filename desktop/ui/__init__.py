"""PySide6 widgets: observe the session state through one bridge and send commands."""
