"""A stand-in for LiveKit's Egress service (which needs GStreamer 1.24 and Chrome).

It serves the Twirp ``livekit.Egress`` API the backend reaches through ``LIVEKIT_EGRESS_URL``,
joins the real room as a hidden recorder participant through the ``livekit`` SDK, and encodes
the program with PyAV (H.264 + AAC) into MP4 files and RTMP streams.
"""
