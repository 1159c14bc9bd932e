"""The strategy's rules as data (SPEC 9), and the signal/size decision shared by the backtest
and `latest_signal`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from resnet_pipeline.knobs import check_knobs, knob
from resnet_pipeline.market.source import MARKETS

STOPS = ("fixed", "atr", "trailing")
SIZINGS = ("kelly", "fixed")
# assumed (~7%/year of the short's notional); set your account's rate
SPOT_BORROW_FEE_PER_DAY = 0.0002
SHARE_OF_EQUITY = "a share of equity, e.g. fixed_fraction=1.0 for all-in"


@dataclass(frozen=True)
class ShortRules:
    """Whether shorts are allowed and what they cost to carry, as a user sets them: by market
    unless asked. A spot account cannot sell what it does not hold, so spot is long-only unless
    shorts are asked for (then they borrow, paying ``spot_borrow_fee_per_day``); a linear
    perpetual shorts natively and pays no borrow fee."""

    allow_short: bool | None = knob(
        None,
        "null: by RESNET_BYBIT_MARKET (spot long-only, linear shorts allowed); true on spot "
        "borrows to short, paying spot_borrow_fee_per_day",
    )
    spot_borrow_fee_per_day: float = knob(
        SPOT_BORROW_FEE_PER_DAY,
        "spot shorts: borrow cost per day held, as a share of the short's notional (assumed "
        "~7%/year; set your account's rate)",
        ge=0,
        lt=1,
    )

    def __post_init__(self) -> None:
        check_knobs(self)

    def on(self, market: str) -> dict[str, bool | float]:
        """StrategyConfig's ``allow_short`` and ``borrow_fee_per_day`` on ``market``."""
        return short_rules(market, self.allow_short, self.spot_borrow_fee_per_day)


@dataclass(frozen=True)
class StrategyConfig:
    """The SPEC 9 rules of one backtest, shorts resolved for its market (``ShortRules``)."""

    threshold: float = knob(
        0.6, "LONG if p_up > threshold, SHORT if p_down > threshold", ge=0.5, lt=1
    )
    sizing: str = knob(
        "kelly",
        "kelly: the share of equity is clip(confidence - 0.5, 0, kelly_cap); fixed: fixed_fraction",
        choices=SIZINGS,
    )
    kelly_cap: float = knob(
        0.25, "kelly sizing: the largest share of equity", gt=0, le=1, note=SHARE_OF_EQUITY
    )
    fixed_fraction: float = knob(
        0.10,
        "fixed sizing: the share of equity per trade (1.0: all-in)",
        gt=0,
        le=1,
        note=SHARE_OF_EQUITY,
    )
    stop: str = knob(
        "fixed",
        "fixed: -stop_pct from entry; atr: -atr_mult x ATR; trailing: the peak (trough) "
        "-/+ trail_atr_mult x ATR at entry",
        choices=STOPS,
    )
    stop_pct: float = knob(
        0.02, "fixed stop: the loss from entry that closes the position", gt=0, lt=1
    )
    atr_mult: float = knob(2.0, "atr stop: ATRs (at entry) from entry to the stop", gt=0)
    trail_atr_mult: float = knob(
        1.5, "trailing stop: ATRs (at entry) the stop follows behind the best price", gt=0
    )
    take_profit: float | None = knob(0.03, "the gain from entry that closes; null disables", gt=0)
    exit_on_reversal: bool = knob(True, "the opposite signal closes the position")
    exit_confidence: float | None = knob(
        0.5, "exit when the held side's probability drops below this; null disables", ge=0, le=1
    )
    max_hold_minutes: int = knob(720, "close a position held this long", ge=1)
    daily_drawdown_halve: float = knob(
        0.03, "halve new sizes for the rest of the UTC day after this drawdown", gt=0, le=1
    )
    weekly_drawdown_stop: float = knob(
        0.10, "no new trades for the rest of the ISO week after this drawdown", gt=0, le=1
    )
    fee_rate: float = knob(0.001, "per fill on notional (Bybit spot taker 0.1%)", ge=0, lt=1)
    slippage_bps: float = knob(2.0, "per fill, against us, in basis points", ge=0, lt=10_000)
    initial_equity: float = knob(10_000.0, "equity at the start of the backtest", gt=0)
    allow_short: bool = knob(
        True, "shorts are taken (assets: set by ShortRules on the market)", resolved_by=ShortRules
    )
    borrow_fee_per_day: float = knob(
        0.0,
        "shorts pay this share of their notional per day held (assets: set by ShortRules on "
        "the market)",
        resolved_by=ShortRules,
        ge=0,
        lt=1,
    )

    def __post_init__(self) -> None:
        check_knobs(self)

    def to_dict(self) -> dict:
        return asdict(self)


def short_rules(
    market: str, allow_short: bool | None, spot_borrow_fee_per_day: float
) -> dict[str, bool | float]:
    """``allow_short`` and ``borrow_fee_per_day`` of a StrategyConfig on ``market`` (the rule
    ``ShortRules`` states)."""
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
