"""Entry point of the bundled app (PyInstaller needs a script, not a console_scripts spec)."""

from desktop.cli import main

raise SystemExit(main())
