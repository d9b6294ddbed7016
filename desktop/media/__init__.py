"""Capture devices, synthetic twins, frame conversion, meters and local outputs. No Qt."""
