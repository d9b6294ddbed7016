"""A LiveKit server stand-in for tests: signalling, media relay, RoomService and webhooks.

Test equipment only: the product never ships or starts it. It speaks LiveKit's protocols on
loopback so the real ``livekit`` and ``livekit-api`` SDKs can be tested end to end where no
LiveKit server binary can be installed. Run it by hand with
``python -m tests.livekit_double --port 7880 --api-key devkey --api-secret secret``.
"""
