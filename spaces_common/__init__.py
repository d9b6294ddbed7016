"""Standard-library helpers that the desktop app and the backend both use.

Neither side owns them, so they live here rather than in one side for the other to import.
This package imports nothing of ``desktop``, ``backend`` or ``spaces_contract`` and nothing
outside the standard library (an import-linter contract in ``pyproject.toml`` keeps it so).
"""
