"""Adaptive polling: how long each CA has lately taken to move an order on, so that polling
starts near when the answer is likely instead of at 10 ms every time.

An order waits at the CA twice: ``pending`` while the authorizations are validated, and
``processing`` while the certificate is issued. A quiet internal CA does either in tens of
milliseconds; the same CA under a burst of orders (validating hundreds of challenges
against the responder) or a public CA takes hundreds. Starting at 10 ms and growing by
half, a wait of 300 ms cost seven polls, each a signed POST the CA must answer. Here the
first poll of a phase waits half of what that phase typically took at that CA, so a slow
phase is found done in one or two polls, and a fast one is polled as soon as before.

What is kept is a moving average per (CA host, phase), in the process: no state to share,
and a restart only starts from 10 ms again. A phase is timed from when a job first saw it
to halfway between the last poll that still saw it and the first that did not: timed to
the later poll, every length would come out long by up to the last interval, and the
average, which sets the next first poll, would grow by itself (a benchmark run saw the
median latency of one request go from 2.4 to 4.4 times the floor's). A job that resumed
mid-phase sees only part of it, which can only make the average short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_POLL_SECONDS = 0.01
POLL_GROWTH = 1.5
MAX_POLL_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 3600.0
# The first poll of a phase waits this share of the phase's typical length...
FIRST_POLL_SHARE = 0.5
# ...at most this long (a CA slow once must not make every later order wait long).
MAX_FIRST_POLL_SECONDS = 2.0
# The weight of the newest observation in the moving average.
NEWEST_WEIGHT = 0.2
PACED_PHASES = frozenset({"pending", "processing"})


def poll_delay(polls: int, retry_after: float | None,
               first: float = FIRST_POLL_SECONDS) -> float:
    """Wait ``first`` before the first poll and half again as long before each next one;
    a CA's Retry-After wins when it asks for longer."""
    steps = min(max(polls - 1, 0), 64)  # the cap is reached long before; no overflow
    delay: float = min(first * POLL_GROWTH**steps, MAX_POLL_SECONDS)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


@dataclass
class PollPace:
    """Typical phase lengths per (CA host, phase), in seconds."""

    typical: dict[tuple[str, str], float] = field(default_factory=dict)

    def first_delay(self, ca: str, phase: str) -> float:
        seen = self.typical.get((ca, phase))
        if seen is None:
            return FIRST_POLL_SECONDS
        return min(max(FIRST_POLL_SHARE * seen, FIRST_POLL_SECONDS), MAX_FIRST_POLL_SECONDS)

    def observe(self, ca: str, phase: str, seconds: float) -> None:
        if phase not in PACED_PHASES or seconds < 0:
            return
        seen = self.typical.get((ca, phase))
        self.typical[(ca, phase)] = (
            seconds if seen is None else seen + NEWEST_WEIGHT * (seconds - seen)
        )


@dataclass
class PhaseTimer:
    """The phase an order is in, as one job's polls see it: when it was first seen and when
    it was last seen still in it."""

    status: str
    began: float
    last_seen: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_seen = self.began

    def saw(self, status: str, now: float, pace: PollPace, ca: str) -> None:
        """A poll at ``now`` found the order in ``status``: a phase that ended is timed."""
        if status == self.status:
            self.last_seen = now
            return
        pace.observe(ca, self.status, (self.last_seen + now) / 2 - self.began)
        self.status, self.began, self.last_seen = status, now, now
