"""The strategy's rules as data (SPEC 9), and the signal/size decision shared by the backtest
and `latest_signal`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from resnet_pipeline.market.source import MARKETS

STOPS = ("fixed", "atr", "trailing")
# assumed (~7%/year of the short's notional); set your account's rate
SPOT_BORROW_FEE_PER_DAY = 0.0002
SIZINGS = ("kelly", "fixed")


@dataclass(frozen=True)
class StrategyConfig:
    threshold: float = 0.6  # LONG if p_up > threshold, SHORT if p_down > threshold
    sizing: str = "kelly"  # fraction = clip(confidence - 0.5, 0, kelly_cap); or fixed_fraction
    kelly_cap: float = 0.25
    fixed_fraction: float = 0.10
    stop: str = "fixed"  # fixed: -stop_pct from entry; atr: -atr_mult x ATR; trailing
    stop_pct: float = 0.02
    atr_mult: float = 2.0
    trail_atr_mult: float = 1.5  # trailing: peak (trough) -/+ trail_atr_mult x ATR at entry
    take_profit: float | None = 0.03
    exit_on_reversal: bool = True  # the opposite signal closes the position
    exit_confidence: float | None = 0.5  # close when the held side's probability drops below
    max_hold_minutes: int = 720
    daily_drawdown_halve: float = 0.03  # halve new sizes for the rest of the UTC day
    weekly_drawdown_stop: float = 0.10  # no new trades for the rest of the ISO week
    fee_rate: float = 0.001  # per fill on notional (Bybit spot taker)
    slippage_bps: float = 2.0  # per fill, against us
    initial_equity: float = 10_000.0
    allow_short: bool = True
    borrow_fee_per_day: float = 0.0  # shorts pay this share of their notional per day held

    def __post_init__(self) -> None:
        if self.stop not in STOPS:
            raise ValueError(f"stop={self.stop!r}: use one of {STOPS}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"sizing={self.sizing!r}: use one of {SIZINGS}")
        if not 0.5 <= self.threshold < 1:
            raise ValueError(f"threshold={self.threshold}: must be in [0.5, 1)")
        if self.fee_rate < 0 or self.slippage_bps < 0 or self.borrow_fee_per_day < 0:
            raise ValueError("fee_rate, slippage_bps and borrow_fee_per_day must be >= 0")
        if not 0 < self.fixed_fraction <= 1 or not 0 < self.kelly_cap <= 1:
            raise ValueError(
                f"fixed_fraction={self.fixed_fraction}, kelly_cap={self.kelly_cap}: both are "
                "shares of equity in (0, 1], e.g. fixed_fraction=1.0 for all-in"
            )
        if self.max_hold_minutes < 1:
            raise ValueError("max_hold_minutes must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


def short_rules(
    market: str, allow_short: bool | None, spot_borrow_fee_per_day: float
) -> dict[str, bool | float]:
    """Whether shorts are allowed and what they cost to carry, by market: a spot account
    cannot sell what it does not hold, so spot is long-only unless shorts are asked for
    (then they borrow, at ``spot_borrow_fee_per_day``); a linear perpetual shorts natively."""
    if market not in MARKETS:
        raise ValueError(f"market={market!r}: use one of {MARKETS}")
    if market == "linear":
        return {"allow_short": allow_short is not False, "borrow_fee_per_day": 0.0}
    short = bool(allow_short)
    return {"allow_short": short, "borrow_fee_per_day": spot_borrow_fee_per_day if short else 0.0}


@dataclass(frozen=True)
class Decision:
    signal: str  # LONG | SHORT | NEUTRAL
    side: int  # +1, -1, 0
    confidence: float
    size_fraction: float  # of equity, before drawdown protection


def signals(proba: np.ndarray, cfg: StrategyConfig) -> tuple[np.ndarray, np.ndarray]:
    """[N, 3] probabilities (Down, Neutral, Up; NaN rows: no prediction) -> side (+1/-1/0) and
    the probability of the chosen side (NaN when flat)."""
    p_down, p_up = proba[:, 0], proba[:, 2]
    with np.errstate(invalid="ignore"):
        long = p_up > cfg.threshold
        short = (p_down > cfg.threshold) & cfg.allow_short
    side = np.where(long, 1, np.where(short, -1, 0)).astype(np.int8)
    confidence = np.where(long, p_up, np.where(short, p_down, np.nan))
    return side, confidence


def size_fraction(confidence: float, cfg: StrategyConfig) -> float:
    """Kelly-style ``edge = confidence - 0.5`` capped at ``kelly_cap``, or the fixed fraction."""
    if cfg.sizing == "fixed":
        return cfg.fixed_fraction
    return float(min(max(confidence - 0.5, 0.0), cfg.kelly_cap))


def decide(proba: np.ndarray, cfg: StrategyConfig = StrategyConfig()) -> Decision:
    """The signal and suggested size for one probability vector (the seed's `predict`)."""
    side, confidence = signals(np.asarray(proba, float)[None], cfg)
    s = int(side[0])
    conf = float(confidence[0]) if s else float(proba[1])
    return Decision(
        signal={1: "LONG", -1: "SHORT", 0: "NEUTRAL"}[s],
        side=s,
        confidence=conf,
        size_fraction=float(size_fraction(conf, cfg)) if s else 0.0,
    )
