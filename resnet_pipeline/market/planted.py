"""A weak, learnable pattern planted into the synthetic market: a market with a known answer.

Why: a pipeline that always says "no edge" cannot be told apart from a broken one. On a
planted symbol there is an edge, of known size, that only a model looking at the sequence of
recent candles can find; a pure-noise symbol beside it has none.

The pattern. In each hour, with chance ``rate``, a motif ends at a decision minute t: ten
minutes of volume, ``volume_motif`` times the market's own (5 minutes at 6x then 5 at 1/6x for
an up-motif, the reverse for a down-motif), ending ``quiet_minutes`` (31) minutes before t
(t included); prices are not touched by the motif. With chance ``follow`` the price then moves
by ``move`` (log) in the motif's direction, spread over ``move_minutes`` minutes starting
1 + ``delay`` minutes after t (delay 0 .. ``max_delay``), inside the 12-minute label horizon.
The default move, 0.6%, clears the default label threshold (0.2%) and a round trip's costs
(2 x (0.1% fee + 2 bps slippage) = 0.24%).

Why the newest row does not reveal it: the two motifs hold the same volume multipliers in
reverse order, so any 20-minute volume mean (volume_ratio, the newest row's only volume
window) that holds all of a motif or none of it is the same after either. Every row whose
label the move can reach (t + delay - 11 onwards) is at least 20 minutes past the motif, so
its 20-minute window holds none of it; the newest candle's own volume is untouched, the price
channels and indicators see no change before the move, and the VWAP's extra weights fall on
prices that are as likely above as below the close. Only the move itself, once under way,
shows in the newest rows (momentum over ``move_minutes`` minutes), as any move does.

How strong (60 days of a planted symbol, seed 0; ``test_market_planted`` checks the bounds):
24 motifs a day, 80% followed by the move; the label at t is Up after 76% of up-motifs
(Down after 79% of down-motifs), against base rates of 26% Up, 47% Neutral, 26% Down over all
minutes. A logistic regression on the newest row's 15 channels tells an up- from a down-motif
no better than chance (AUC 0.51), the motif's volume order tells them apart almost always.

A second known answer, ``CalendarPattern``: a daily move at a fixed minute of the UTC day, up
on weekdays and down at weekends, that the clock announces and the 15 SPEC channels barely do:
for the calendar family to find, and a model without it to miss. Either pattern plants through
``SyntheticSource(pattern=...)``; the default market and the default pattern are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

HOUR_MINUTES = 60
HOURS = 24
DAY_MINUTES = HOURS * HOUR_MINUTES
WEEK_DAYS = 7
EPOCH_WEEKDAY = 3  # day 0 of the synthetic market (2015-01-01) is a Thursday; Monday is 0


@dataclass(frozen=True)
class DayEvents:
    """One day's motifs: decision minute of the day, direction (+1/-1), whether the move came,
    and its delay in minutes."""

    decision: np.ndarray
    direction: np.ndarray
    followed: np.ndarray
    delay: np.ndarray


class Pattern(Protocol):
    """What the synthetic market plants into a symbol: per day, its events and its layers."""

    def events(self, key: Sequence[int], day: int) -> DayEvents: ...

    def layers(
        self, key: Sequence[int], days: np.ndarray, day_minutes: int
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class PlantedPattern:
    rate: float = 1.0  # chance that an hour holds a motif
    follow: float = 0.8  # chance that the move comes after a motif
    move: float = 0.006  # the move's size, log return, in the motif's direction
    move_minutes: int = 3  # spread over this many minutes
    max_delay: int = 6  # the move starts 1 .. 1 + max_delay minutes after t
    volume_motif: tuple[float, ...] = (6.0,) * 5 + (1 / 6,) * 5  # up-motif, oldest first
    quiet_minutes: int = 31  # from the motif's last minute (excluded) to t (included)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1 or not 0 <= self.follow <= 1:
            raise ValueError(
                f"PlantedPattern rate={self.rate}, follow={self.follow}: both are chances in "
                "[0, 1], e.g. rate=0.5, follow=0.7"
            )
        if self.move_minutes < 1 or self.max_delay < 0 or self.free_minutes < 0:
            raise ValueError(
                f"PlantedPattern: a motif ({self.span} min) and its move (up to "
                f"{self.max_delay + self.move_minutes} min after t) must fit in an hour, with "
                "move_minutes >= 1 and max_delay >= 0, e.g. a motif of 10, quiet_minutes=31, "
                "max_delay=6, move_minutes=3"
            )

    @property
    def span(self) -> int:
        """Minutes from the motif's first minute to t, both included."""
        return len(self.volume_motif) + self.quiet_minutes

    @property
    def free_minutes(self) -> int:
        """How far a decision minute can move within its hour."""
        return HOUR_MINUTES - self.span - self.max_delay - self.move_minutes

    def events(self, key: Sequence[int], day: int) -> DayEvents:
        """The motifs of ``day``, from that day's own generator: any range of days asks for the
        same draws."""
        draws = np.random.default_rng([*key, 0x91A7, day]).random((5, HOURS))
        occurs = draws[0] < self.rate
        offset = (draws[3] * (self.free_minutes + 1)).astype(np.int64)
        decision = np.arange(HOURS) * HOUR_MINUTES + self.span - 1 + offset
        return DayEvents(
            decision=decision[occurs],
            direction=np.where(draws[1] < 0.5, 1, -1)[occurs],
            followed=(draws[2] < self.follow)[occurs],
            delay=(draws[4] * (self.max_delay + 1)).astype(np.int64)[occurs],
        )

    def layers(
        self, key: Sequence[int], days: np.ndarray, day_minutes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """[day_minutes, len(days)] log returns to add and volume multipliers, per minute."""
        moves = np.zeros((day_minutes, len(days)))
        volume = np.ones((day_minutes, len(days)))
        motif = np.asarray(self.volume_motif)
        step = self.move / self.move_minutes
        for col, day in enumerate(days):
            ev = self.events(key, int(day))
            for t, sign, followed, delay in zip(
                ev.decision, ev.direction, ev.followed, ev.delay, strict=True
            ):
                first = t - self.span + 1
                volume[first : first + len(motif), col] = motif if sign > 0 else motif[::-1]
                if followed:
                    moves[t + 1 + delay : t + 1 + delay + self.move_minutes, col] = sign * step
        return moves, volume


DEFAULT_PATTERN = PlantedPattern()


@dataclass(frozen=True)
class CalendarPattern:
    """A known answer that only the clock reveals: every day at the decision minute
    ``minute_of_day`` (UTC), with chance ``follow``, the price moves by ``move`` (log) over
    ``move_minutes`` minutes starting 1 + ``delay`` minutes after it (delay 0 .. ``max_delay``):
    up on ``up_weekdays`` (Monday 0), down on the other days. Volume is not touched, and the
    default minute, 04:17, lies where the market's intraday activity curves are flat: the 15
    SPEC channels barely tell that minute from those half an hour to an hour around it
    (cross-validated AUC about 0.6 over 90 days, from the VWAP's spread growing through the
    day), the calendar channels name it exactly. The move, once under way, shows as any move
    does.
    """

    minute_of_day: int = 4 * HOUR_MINUTES + 17
    up_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    follow: float = 0.8
    move: float = 0.006
    move_minutes: int = 3
    max_delay: int = 0

    def __post_init__(self) -> None:
        last = self.minute_of_day + 1 + self.max_delay + self.move_minutes
        if (
            not 0 <= self.follow <= 1
            or self.move_minutes < 1
            or self.max_delay < 0
            or not 0 <= self.minute_of_day
            or last > DAY_MINUTES
            or not set(self.up_weekdays) <= set(range(WEEK_DAYS))
        ):
            raise ValueError(
                f"CalendarPattern(minute_of_day={self.minute_of_day}, follow={self.follow}, "
                f"move_minutes={self.move_minutes}, max_delay={self.max_delay}, "
                f"up_weekdays={self.up_weekdays}): the move must end within the UTC day of its "
                "decision minute, follow is a chance in [0, 1], move_minutes >= 1, "
                "max_delay >= 0 and weekdays are 0 (Monday) .. 6, e.g. minute_of_day=257, "
                "follow=0.8, move_minutes=3, max_delay=0"
            )

    def events(self, key: Sequence[int], day: int) -> DayEvents:
        """The day's one event, from that day's own generator."""
        draws = np.random.default_rng([*key, 0xCA1E, day]).random(2)
        weekday = (day + EPOCH_WEEKDAY) % WEEK_DAYS
        return DayEvents(
            decision=np.array([self.minute_of_day], np.int64),
            direction=np.array([1 if weekday in self.up_weekdays else -1]),
            followed=np.array([draws[0] < self.follow]),
            delay=np.array([int(draws[1] * (self.max_delay + 1))], np.int64),
        )

    def layers(
        self, key: Sequence[int], days: np.ndarray, day_minutes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """[day_minutes, len(days)] log returns to add, and volume multipliers (all 1)."""
        moves = np.zeros((day_minutes, len(days)))
        step = self.move / self.move_minutes
        for col, day in enumerate(days):
            ev = self.events(key, int(day))
            if ev.followed[0]:
                start = int(ev.decision[0] + 1 + ev.delay[0])
                moves[start : start + self.move_minutes, col] = ev.direction[0] * step
        return moves, np.ones((day_minutes, len(days)))
