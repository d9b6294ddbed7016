"""Open the studio, write the notices it shows to a JSON file, and close it.

``python -m tests.ui.notices_probe OUT.json [studio arguments…]``: the studio's own entry point
runs; once its window shows (and has had a second to post what it knows), the texts of the
notice stack are written to OUT.json and the window is closed the way a host closes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    """Run the studio with the probe; returns the studio's exit status."""
    from desktop.ui.app import main as studio_main

    out, studio_args = Path(argv[0]), argv[1:]

    async def probe(window: Any, studio: Any) -> None:
        await asyncio.sleep(1.0)
        out.write_text(json.dumps(window.notices.texts()))
        window.close()

    return studio_main(studio_args, on_ready=probe)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
