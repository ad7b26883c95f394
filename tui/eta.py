"""Progress in words a person reads: "53 % of image, 3 min 05 s left".

The time left comes from the pass's rate, smoothed exponentially over time, because the raw
reports are noisy: rows arrive in batches of uneven cost, the machine is shared, and the first
report includes compiling. Estimated from the last few seconds, the same 256x256 pass was
reported as 3250-8685 s left; a rate averaged over about a minute of progress stays put.
Pure Python.
"""

import math
from dataclasses import dataclass, field

SMOOTHING_SECONDS = 60.0
"""Time constant of the rate's exponential smoothing: older intervals count e-fold less per
this many seconds."""


def format_duration(seconds: float | None) -> str:
    """'45 s', '3 min 05 s', '1 h 12 min', '2 d 03 h'; '-' when unknown (None, NaN, inf or
    negative)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest:02d} s"
    minutes = round(seconds / 60)
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest:02d} min"
    days, rest = divmod(round(seconds / 3600), 24)
    return f"{days} d {rest:02d} h"


def format_percent(fraction: float) -> str:
    """'53 %', rounded down so 100 % means done; '< 1 %' for a start that is not nothing."""
    if not math.isfinite(fraction) or fraction <= 0:
        return "0 %"
    if fraction < 0.01:
        return "< 1 %"
    return f"{min(100, math.floor(fraction * 100 + 1e-9))} %"


def describe_progress(
    image_fraction: float,
    view_fraction: float | None = None,
    seconds_left: float | None = None,
) -> str:
    """'53 % of image, 100 % of view, 3 min 05 s left' (the parts that are known)."""
    parts = [f"{format_percent(image_fraction)} of image"]
    if view_fraction is not None:
        parts.append(f"{format_percent(view_fraction)} of view")
    if seconds_left is not None and math.isfinite(seconds_left):
        parts.append(f"{format_duration(seconds_left)} left")
    return ", ".join(parts)


@dataclass
class TimeLeft:
    """Time left of a pass from its (seconds, fraction done) progress reports.

    The first advance is not timed: it includes compiling (or loading), which later rows do not
    pay. Each later interval's rate is blended into an exponentially smoothed rate, weighted by
    the interval's length. A fraction that goes back means a new pass: it starts over.
    """

    smoothing_seconds: float = SMOOTHING_SECONDS
    _first_fraction: float | None = field(default=None, init=False, repr=False)
    _last: tuple[float, float] | None = field(default=None, init=False, repr=False)
    """(seconds, fraction) of the last report timed from; None until the first advance."""
    _rate: float | None = field(default=None, init=False, repr=False)
    """Smoothed fraction per second; None until two advances."""

    def report(self, seconds: float, fraction: float) -> None:
        """A progress report: `fraction` of the pass done at `seconds` (any monotonic clock)."""
        if not (math.isfinite(seconds) and math.isfinite(fraction)):
            return
        if self._first_fraction is None or fraction < self._latest_fraction():
            self._restart(fraction)
            return
        if self._last is None:
            if fraction > self._first_fraction:
                self._last = (seconds, fraction)  # the compile is behind us: time from here
            return
        then, done_then = self._last
        if seconds <= then or (self._rate is None and fraction <= done_then):
            return  # no time passed, or nothing to time yet
        rate = (fraction - done_then) / (seconds - then)
        if self._rate is None:
            self._rate = rate
        else:
            weight = 1.0 - math.exp(-(seconds - then) / self.smoothing_seconds)
            self._rate += weight * (rate - self._rate)
        self._last = (seconds, fraction)

    def _restart(self, fraction: float) -> None:
        self._first_fraction, self._last, self._rate = fraction, None, None

    def _latest_fraction(self) -> float:
        if self._last is not None:
            return self._last[1]
        return self._first_fraction or 0.0

    @property
    def rate(self) -> float | None:
        """Smoothed fraction of the pass per second; None until it has one."""
        return self._rate

    def seconds_left(self, now: float | None = None) -> float | None:
        """Estimated seconds until the pass is done, counted down to `now` when given (a status
        line ticking between reports); None until there is a rate."""
        if not self._rate or self._last is None:
            return None
        then, done = self._last
        left = (1.0 - done) / self._rate
        if now is not None:
            left -= max(0.0, now - then)
        return max(0.0, left)
