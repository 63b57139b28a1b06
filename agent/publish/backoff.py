"""Reconnect delays: capped exponential, jittered, so a fleet does not stampede a broker."""

from __future__ import annotations

import random


class Backoff:
    """Delay before the next connection attempt.

    The n-th consecutive failure waits between half and all of
    min(max_s, initial_s * 2**n): the fixed half keeps a single sensor from hammering
    the broker, the random half spreads a hundred sensors that lost the broker at the
    same instant across the window instead of bringing them back in one burst.
    """

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """Count one more failure and return how long to wait before the next attempt."""
        ceiling = min(self.max_s, self.initial_s * 2 ** min(self.failures, 62))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from initial_s again."""
        self.failures = 0
