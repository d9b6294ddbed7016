"""The ``broadcaster`` command: the studio window, device listing and headless mode.

Each sub-command lives in the layer it belongs to and parses its own options; this module only
dispatches, importing lazily so ``broadcaster --version`` stays instant and works without a
display or sound system.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from desktop import __version__

# command -> (module, what it does); each module has ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "studio": ("desktop.ui.app", "open the studio window (the default)"),
    "devices": ("desktop.media.devices", "list cameras, microphones and screens"),
    "headless": ("desktop.session.headless", "publish to a room and/or RTMP with no window"),
    "remote": ("desktop.session.remote_control.client", "drive a running studio (its API)"),
}


def _build_parser() -> argparse.ArgumentParser:
    epilog = "\n".join(f"  {name:<10} {what}" for name, (_, what) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="broadcaster",
        description="Spaces Broadcaster: the desktop studio for live streaming hosts.",
        epilog=f"commands:\n{epilog}\n\n'broadcaster COMMAND --help' shows each one's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``broadcaster`` command line and return its exit status."""
    from desktop.media.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any capture thread starts: see desktop/media/memory.py
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if args and args[0] in COMMANDS:
        command, rest = args[0], args[1:]
    elif args and not args[0].startswith("-"):
        parser.print_usage(sys.stderr)
        print(
            f"broadcaster: unknown command {args[0]!r}; choose one of: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    else:
        # Top-level flags (--version, --help) are ours; anything else belongs to the studio.
        known, rest = parser.parse_known_args(args)
        if known.help:
            parser.print_help()
            return 0
        command = "studio"
    module_name, _ = COMMANDS[command]
    entry: Callable[[list[str]], int] = importlib.import_module(module_name).main
    return entry(rest)


if __name__ == "__main__":
    raise SystemExit(main())
