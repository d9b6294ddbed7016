"""The contract of ``POST /api/livekit``, the one package both sides of it import.

The backend (:mod:`backend`) answers the contract and the desktop app (:mod:`desktop`) calls it;
neither imports the other for it. Every request and answer is a frozen dataclass here, in one
module per group of actions (:mod:`~spaces_contract.rooms`, :mod:`~spaces_contract.recording`,
:mod:`~spaces_contract.outputs`, :mod:`~spaces_contract.moderation`,
:mod:`~spaces_contract.status`), turned to and from JSON by one codec
(:mod:`~spaces_contract.codec`). Beside them are the data both sides must agree on: the
streaming platforms (:mod:`~spaces_contract.platforms`) and the money of a show
(:mod:`~spaces_contract.money`).

Standard library only: no LiveKit, no aiohttp, nothing of ``backend`` or ``desktop`` (an
import-linter contract in ``pyproject.toml`` keeps it so), so importing it costs a client
nothing but the contract itself.
"""
