"""The studio's remote-control API: a local WebSocket server speaking JSON (no Qt here).

``protocol`` names the messages, ``dispatch`` turns requests into the studio's own commands,
``events`` turns the studio's state changes into pushed events, ``server`` listens and
authenticates, ``client`` is ``broadcaster remote``. docs/remote-control.md is the reference.
"""
