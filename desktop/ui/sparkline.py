"""A guest's connection-quality history as a small text sparkline (People panel, summary).

Block characters keep it one line of text: it fits a list row, a tooltip and the summary, is
read by screen readers as its words (see :func:`quality_trend`), and needs no painting.
"""

from __future__ import annotations

from desktop.session.stage_control import quality_levels
from desktop.session.state import Quality, QualitySample
from desktop.ui import words

BARS = {
    Quality.UNKNOWN: "·",
    Quality.LOST: "▁",
    Quality.POOR: "▃",
    Quality.GOOD: "▆",
    Quality.EXCELLENT: "█",
}
"""One character per stretch of time: taller is better; a dot is no grade yet."""
DEFAULT_WIDTH = 12


def quality_sparkline(
    samples: tuple[QualitySample, ...], until_ms: int, width: int = DEFAULT_WIDTH
) -> str:
    """``width`` characters from the first grade to ``until_ms``, each the worst grade that held
    in its stretch ('' when the SFU has not graded the guest yet)."""
    return "".join(BARS[q] for q in quality_levels(samples, until_ms, width))


def quality_trend(samples: tuple[QualitySample, ...]) -> str:
    """The history in words: ``"excellent, then poor, now good (worst: poor)"``."""
    graded = [s.quality for s in samples if s.quality is not Quality.UNKNOWN]
    if not graded:
        return "not graded yet"
    steps: list[Quality] = []
    for value in graded:
        if not steps or steps[-1] is not value:
            steps.append(value)
    shown = [words.quality(q) for q in steps[-4:]]
    text = shown[0] if len(shown) == 1 else ", then ".join(shown[:-1]) + f", now {shown[-1]}"
    worst = max(graded, key=lambda q: q.value)
    return f"{text} (worst: {words.quality(worst)})" if len(steps) > 1 else text
