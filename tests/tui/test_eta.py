"""Progress in words: durations a person reads, and a time-left estimate that holds still."""

import math

import numpy as np
import pytest

from cnninterp.tui.eta import TimeLeft, describe_progress, format_duration, format_percent


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45.2, "45 s"),
        (59.6, "1 min 00 s"),
        (185, "3 min 05 s"),
        (3599.6, "1 h 00 min"),
        (4320, "1 h 12 min"),
        (8685, "2 h 25 min"),
        (3 * 86400 + 3 * 3600, "3 d 03 h"),
        (None, "-"),
        (math.nan, "-"),
        (math.inf, "-"),
        (-3, "-"),
    ],
)
def test_durations_read_like_words(seconds, text):
    assert format_duration(seconds) == text


def test_percentages_never_claim_done_early():
    assert format_percent(0.999) == "99 %" and format_percent(1.0) == "100 %"
    assert format_percent(0.004) == "< 1 %" and format_percent(0.0) == "0 %"
    assert format_percent(0.53) == "53 %"
    assert describe_progress(0.53, 1.0, 185) == "53 % of image, 100 % of view, 3 min 05 s left"
    assert describe_progress(0.53) == "53 % of image"


def test_no_estimate_until_there_is_a_rate_and_the_compile_is_not_counted():
    eta = TimeLeft()
    assert eta.seconds_left() is None
    eta.report(0.0, 0.0)
    assert eta.seconds_left() is None
    eta.report(60.0, 0.01)  # the first advance took a minute of compiling
    assert eta.seconds_left() is None
    eta.report(61.0, 0.02)  # then 1 % per second
    assert eta.seconds_left() == pytest.approx(98.0)
    assert eta.seconds_left(now=71.0) == pytest.approx(88.0)  # counts down between reports


def test_stable_under_noisy_reports():
    # 256x256 rows in batches of uneven cost, on a shared machine: the true rate is 1/3600 per
    # second (an hour), each interval's length and progress is off by up to +-60 %.
    rng = np.random.default_rng(0)
    eta = TimeLeft()
    t, done, estimates, naive = 0.0, 0.0, [], []
    eta.report(t, done)
    t, done = 90.0, 0.002  # compile and first batch
    eta.report(t, done)
    while done < 0.5:
        dt = 2.0 * rng.uniform(0.4, 1.6)
        t += dt
        step = dt / 3600 * rng.uniform(0.4, 1.6)
        done += step
        eta.report(t, done)
        estimates.append((eta.seconds_left(), (1.0 - done) * 3600))
        naive.append((1.0 - done) * dt / step)
    settled = [(est, true) for est, true in estimates[60:]]  # after two minutes
    assert all(abs(est / true - 1.0) < 0.2 for est, true in settled)
    consecutive = [abs(a[0] - b[0]) for a, b in zip(settled, settled[1:], strict=False)]
    assert max(consecutive) < 120  # shown every ~2 s, it never jumps by more than two minutes
    # what the last interval alone would say: the swings this estimator exists to remove
    assert max(abs(n / true - 1.0) for n, (_, true) in zip(naive, estimates, strict=True)) > 0.5


def test_a_stall_lengthens_the_estimate_and_a_new_pass_starts_over():
    eta = TimeLeft(smoothing_seconds=10.0)
    for t in range(0, 30):
        eta.report(float(t), t / 100)
    before = eta.seconds_left()
    for t in range(30, 40):
        eta.report(float(t), 0.29)  # nothing arrives for ten seconds
    assert eta.seconds_left() > before * 2
    eta.report(40.0, 0.0)  # fraction went back: another pass
    assert eta.seconds_left() is None and eta.rate is None
    eta.report(41.0, math.nan)  # ignored, not a crash
    assert eta.seconds_left() is None
