"""Timing both sides of a comparison on a shared, noisy machine."""

from __future__ import annotations

from collections.abc import Callable


def alternating(
    ours: Callable[[], float],
    theirs: Callable[[], float],
    pairs: int,
    after: Callable[[float, float], None] | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Run `ours` and `theirs` back to back `pairs` times, alternating which goes first,
    so neither side always meets the colder cache or the busier moment. Each callable
    returns its seconds; `after(ours_s, theirs_s)` is called after each pair.

    Returns both sides' seconds and each pair's ratio theirs/ours (how many times faster
    `ours` was): load that drifts over seconds falls on both runs of a pair alike, so the
    median of these ratios is steadier than a ratio of best or median times."""
    mine, other = [], []
    for i in range(pairs):
        if i % 2 == 0:
            mine.append(ours())
            other.append(theirs())
        else:
            other.append(theirs())
            mine.append(ours())
        if after:
            after(mine[-1], other[-1])
    return mine, other, [b / a for a, b in zip(mine, other, strict=True)]
