"""Allow ``python -m desktop`` as an alias of the ``broadcaster`` command."""

from desktop.cli import main

raise SystemExit(main())
