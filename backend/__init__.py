"""Reference implementation of the platform's /api/livekit contract."""
