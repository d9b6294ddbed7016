"""Local outputs of the program: direct RTMP and local recording (encode once, send to many)."""
