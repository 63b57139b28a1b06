"""`Every`: the pipeline's "every N seconds on its own clock" for health and devices."""

from agent.pipeline import Every


def test_nothing_is_due_until_the_clock_has_started():
    every = Every(2.0)
    assert not every.is_due(10**12)
    assert every.start(1_000_000)
    assert not every.start(5_000_000)  # only the first call starts it
    assert not every.is_due(2_999_999)
    assert every.is_due(3_000_000)


def test_the_next_one_is_due_a_full_interval_after_a_restart():
    every = Every(2.0)
    every.start(0)
    every.restart(2_500_000)  # done late: the interval counts from when it was done
    assert not every.is_due(4_499_999)
    assert every.is_due(4_500_000)


def test_each_window_starts_where_the_last_one_ended():
    every = Every(1.0)
    assert every.take_window(7) == 7  # before the clock starts: an empty window
    every.start(100)
    assert every.take_window(250) == 100
    assert every.take_window(400) == 250
