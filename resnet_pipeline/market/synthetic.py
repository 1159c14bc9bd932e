"""A seeded synthetic market: random access by minute, continuous across any boundary.

Why it is built this way: partitions are fetched one month (or one gap) at a time, in any
order, so the value of a minute must not depend on what range was asked for. The price path
has two layers:

* a **daily anchor**: the log price at each UTC midnight, a slow random walk with regime
  switching (bull, bear, calm, turbulent: drift and volatility differ) and weak mean
  reversion towards the symbol's reference level. It is simulated day by day from the epoch
  (2015-01-01), a few thousand cheap steps, in blocks with their own seeds and cached, so
  that day ``d`` never depends on how far the simulation was run;
* an **intraday path** per day from that day's own generator: GARCH(1,1)-style volatility
  clustering, intraday and weekly volatility/volume seasonality, a very weak AR(1) in
  minute returns (real markets have a little), tied as a bridge from the day's anchor to the
  next day's anchor, so the close of 23:59 equals the open of 00:00 of the next day exactly.

Every candle therefore depends only on (seed, symbol, its day): months join seamlessly and
re-fetching any sub-range gives identical values.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnet_pipeline.market.minute_ranges import MINUTE_NS, clip_range, to_utc
from resnet_pipeline.market.planted import DEFAULT_PATTERN, Pattern
from resnet_pipeline.market.schema import TIMESTAMP_DTYPE, empty_candles

EPOCH = pd.Timestamp("2015-01-01", tz="UTC").as_unit("ns")
DAY_MINUTES = 1440
_DAY_NS = DAY_MINUTES * 60_000_000_000
_BLOCK_DAYS = 512

# regime: (daily drift of log price, volatility multiplier, mean duration in days)
REGIMES: tuple[tuple[float, float, float], ...] = (
    (0.004, 0.9, 30.0),  # bull
    (-0.004, 1.2, 20.0),  # bear
    (0.0, 0.6, 25.0),  # calm range
    (0.0, 1.8, 8.0),  # turbulent
)
_GARCH_ALPHA, _GARCH_BETA = 0.06, 0.92
_AR_PHI = 0.04  # weak autocorrelation of minute returns: present in real data, barely tradable
_MEAN_REVERSION = 1.0 / 365.0


@dataclass(frozen=True)
class SymbolProfile:
    """Reference price level, daily volatility and typical quote turnover per minute."""

    price: float
    daily_vol: float
    quote_volume_per_minute: float


_KNOWN = {
    "BTCUSDT": SymbolProfile(40_000.0, 0.025, 1_500_000.0),
    "ETHUSDT": SymbolProfile(2_400.0, 0.032, 800_000.0),
    "SOLUSDT": SymbolProfile(100.0, 0.045, 300_000.0),
}


def symbol_hash(symbol: str) -> int:
    """Stable across processes and Python versions (unlike ``hash``)."""
    return zlib.crc32(symbol.encode("utf-8"))


def profile_for(symbol: str) -> SymbolProfile:
    if symbol in _KNOWN:
        return _KNOWN[symbol]
    rng = np.random.default_rng([symbol_hash(symbol), 7])
    return SymbolProfile(
        price=float(10 ** rng.uniform(-1.0, 3.0)),
        daily_vol=float(rng.uniform(0.03, 0.06)),
        quote_volume_per_minute=float(10 ** rng.uniform(4.0, 5.5)),
    )


def _session_curve(
    centers_h: list[float], widths_h: list[float], heights: list[float]
) -> np.ndarray:
    hours = np.arange(DAY_MINUTES) / 60.0
    curve = np.ones(DAY_MINUTES)
    for c, w, h in zip(centers_h, widths_h, heights, strict=True):
        d = np.minimum(np.abs(hours - c), 24.0 - np.abs(hours - c))  # circular distance
        curve += h * np.exp(-0.5 * (d / w) ** 2)
    return curve


# Asia open (00:00), Europe (08:00), US equities open (13:30-14:30 UTC) raise activity.
_VOL_SEASON = _session_curve([0.0, 8.0, 14.0], [1.0, 1.2, 1.5], [0.35, 0.3, 0.8])
_VOL_SEASON /= np.sqrt(np.mean(_VOL_SEASON**2))
_VOLUME_SEASON = _session_curve([0.0, 8.0, 14.0], [1.0, 1.5, 1.8], [0.6, 0.5, 1.4])
_VOLUME_SEASON /= _VOLUME_SEASON.mean()


class _DailyAnchors:
    """The per-day layer for one (seed, symbol), extended block by block on demand."""

    def __init__(self, seed: int, symbol: str, profile: SymbolProfile) -> None:
        self._key = [seed, symbol_hash(symbol), 0xDA1]
        self._profile = profile
        self._log_ref = np.log(profile.price)
        self.log_open = np.empty(0)  # log price at each midnight
        self.sigma = np.empty(0)  # daily volatility of the day
        self.regime = np.empty(0, dtype=np.int8)
        self._state = (self._log_ref, 2, 0.0)  # log price, regime, vol noise

    def ensure(self, days: int) -> None:
        while len(self.log_open) < days:
            self._extend(len(self.log_open) // _BLOCK_DAYS)

    def _extend(self, block: int) -> None:
        rng = np.random.default_rng([*self._key, block])
        u_stay, u_next = rng.random(_BLOCK_DAYS), rng.random(_BLOCK_DAYS)
        z_ret, z_vol = rng.standard_normal(_BLOCK_DAYS), rng.standard_normal(_BLOCK_DAYS)
        log_p, regime, vol_noise = self._state
        log_open = np.empty(_BLOCK_DAYS)
        sigma = np.empty(_BLOCK_DAYS)
        regimes = np.empty(_BLOCK_DAYS, dtype=np.int8)
        for i in range(_BLOCK_DAYS):
            drift, vol_mult, duration = REGIMES[regime]
            vol_noise = 0.85 * vol_noise + 0.2 * z_vol[i]
            s = self._profile.daily_vol * vol_mult * float(np.exp(vol_noise))
            log_open[i], sigma[i], regimes[i] = log_p, s, regime
            log_p += drift - _MEAN_REVERSION * (log_p - self._log_ref) + s * z_ret[i]
            if u_stay[i] < 1.0 / duration:
                others = [r for r in range(len(REGIMES)) if r != regime]
                regime = others[int(u_next[i] * len(others))]
        self._state = (log_p, regime, vol_noise)
        self.log_open = np.concatenate([self.log_open, log_open])
        self.sigma = np.concatenate([self.sigma, sigma])
        self.regime = np.concatenate([self.regime, regimes])


def _days_between(start: pd.Timestamp, end: pd.Timestamp) -> range:
    """Days since EPOCH that [start, end) touches."""
    return range(
        int((start.value - EPOCH.value) // _DAY_NS),
        int(-(-(end.value - EPOCH.value) // _DAY_NS)),  # exclusive, ceiling
    )


def _timestamps(minutes: np.ndarray) -> pd.Series:
    """Minutes since EPOCH as candle timestamps."""
    ns = EPOCH.value + minutes.astype(np.int64) * MINUTE_NS
    return pd.Series(pd.to_datetime(ns, utc=True)).astype(TIMESTAMP_DTYPE)


class SyntheticSource:
    """Deterministic synthetic 1-minute candles; ``fetch`` covers [start, end).

    ``listings`` optionally maps a symbol to its first trading minute: earlier ranges come
    back empty, as for a symbol the exchange did not list yet. Everything before EPOCH is empty.
    ``planted_symbols`` get the learnable ``pattern`` (``market.planted``) on top of the same
    market; every other symbol is exactly the pattern-free market.
    """

    name = "synthetic"
    page_minutes: int | None = None

    def __init__(
        self,
        seed: int = 0,
        listings: dict[str, pd.Timestamp] | None = None,
        planted_symbols: Iterable[str] = (),
        pattern: Pattern = DEFAULT_PATTERN,
    ) -> None:
        self.seed = int(seed)
        self.listings = {k: to_utc(v) for k, v in (listings or {}).items()}
        self.planted_symbols = frozenset(planted_symbols)
        self.pattern = pattern
        self.requests = 0
        self._anchors: dict[str, _DailyAnchors] = {}

    def planted_events(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """The planted motifs whose decision minute lies in [start, end): ``timestamp`` (the
        decision minute t), ``direction`` (+1 up-motif, -1 down-motif), ``followed`` (whether
        the move came) and ``delay`` (it starts at t + 1 + delay). Empty for a symbol without
        the pattern."""
        start, end = max(to_utc(start), self.listed_from(symbol)), to_utc(end)
        days = _days_between(start, end) if symbol in self.planted_symbols else range(0)
        events = [self.pattern.events([self.seed, symbol_hash(symbol)], day) for day in days]
        minutes = [day * DAY_MINUTES + e.decision for day, e in zip(days, events, strict=True)]
        frame = pd.DataFrame(
            {
                "timestamp": _timestamps(np.concatenate([np.zeros(0, np.int64), *minutes])),
                "direction": np.concatenate([np.zeros(0, np.int8), *(e.direction for e in events)]),
                "followed": np.concatenate([np.zeros(0, bool), *(e.followed for e in events)]),
                "delay": np.concatenate([np.zeros(0, np.int64), *(e.delay for e in events)]),
            }
        )
        return clip_range(frame, start, end)

    def listed_from(self, symbol: str) -> pd.Timestamp:
        return max(EPOCH, self.listings.get(symbol, EPOCH))

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = max(to_utc(start), self.listed_from(symbol)), to_utc(end)
        if end <= start:
            return empty_candles()
        self.requests += 1
        days = _days_between(start, end)
        return clip_range(self._days(symbol, days.start, days.stop), start, end)

    def _days(self, symbol: str, first: int, last: int) -> pd.DataFrame:
        anchors = self._anchors.get(symbol)
        if anchors is None:
            anchors = self._anchors[symbol] = _DailyAnchors(self.seed, symbol, profile_for(symbol))
        anchors.ensure(last + 1)
        days = np.arange(first, last)
        n = len(days)
        key = [self.seed, symbol_hash(symbol), 0x1D]
        # [shock, high excursion, low excursion, volume noise, initial variance] per day
        draws = np.stack(
            [np.random.default_rng([*key, int(d)]).standard_normal((4, DAY_MINUTES)) for d in days]
        )
        h0 = np.exp(0.3 * draws[:, 3, 0])
        eps, z_hi, z_lo, z_vol = (np.ascontiguousarray(draws[:, i].T) for i in range(4))

        weekday = (days + EPOCH.day_of_week) % 7
        weekend = np.where(weekday >= 5, 0.7, 1.0)
        sigma_min = anchors.sigma[days] * weekend / np.sqrt(DAY_MINUTES)  # (n,)
        base_sigma = _VOL_SEASON[:, None] * sigma_min[None, :]  # (1440, n)

        # GARCH(1,1)-style variance factor (mean 1) and the weak AR(1), minute by minute,
        # vectorized across days.
        h = h0.copy()
        omega = 1.0 - _GARCH_ALPHA - _GARCH_BETA
        rets = np.empty((DAY_MINUTES, n))
        vol = np.empty((DAY_MINUTES, n))
        prev = np.zeros(n)
        for m in range(DAY_MINUTES):
            vol[m] = base_sigma[m] * np.sqrt(h)
            prev = vol[m] * eps[m] + _AR_PHI * prev
            rets[m] = prev
            h = omega + h * (_GARCH_ALPHA * eps[m] ** 2 + _GARCH_BETA)

        planted = symbol in self.planted_symbols
        if planted:
            moves, volume_factor = self.pattern.layers(
                [self.seed, symbol_hash(symbol)], days, DAY_MINUTES
            )
            rets = rets + moves

        # Bridge from this midnight's anchor to the next one's.
        path = np.vstack([np.zeros((1, n)), np.cumsum(rets, axis=0)])  # (1441, n)
        target = anchors.log_open[days + 1] - anchors.log_open[days]
        frac = np.arange(DAY_MINUTES + 1)[:, None] / DAY_MINUTES
        path -= frac * (path[-1] - target)[None, :]
        log_price = anchors.log_open[days][None, :] + path
        log_price[-1] = anchors.log_open[days + 1]  # exact continuity across midnight

        opens = np.exp(log_price[:-1])
        closes = np.exp(log_price[1:])
        highs = np.maximum(opens, closes) * np.exp(0.5 * np.abs(z_hi) * vol)
        lows = np.minimum(opens, closes) * np.exp(-0.5 * np.abs(z_lo) * vol)

        profile = profile_for(symbol)
        activity = np.abs(eps) * 0.6 + 0.5  # busy minutes move prices: volume follows |return|
        regime_mult = np.sqrt(np.take([r[1] for r in REGIMES], anchors.regime[days]))
        volume = (
            profile.quote_volume_per_minute
            / np.exp(log_price[1:])
            * _VOLUME_SEASON[:, None]
            * (weekend * regime_mult)[None, :]
            * activity
            * np.exp(0.35 * z_vol - 0.06)
        )
        if planted:
            volume = volume * volume_factor

        minute0 = days.astype(np.int64) * DAY_MINUTES
        minutes = (minute0[None, :] + np.arange(DAY_MINUTES)[:, None]).T.ravel()
        return pd.DataFrame(
            {
                "timestamp": _timestamps(minutes),
                "open": opens.T.ravel(),
                "high": highs.T.ravel(),
                "low": lows.T.ravel(),
                "close": closes.T.ravel(),
                "volume": np.round(volume.T.ravel(), 6),
            }
        )
