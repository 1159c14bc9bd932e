"""The experiment report as one self-contained HTML page, and its reliability plot.

Numbers are shown with 4 significant digits, an interval as ``estimate [low, high]``, and an
undefined value as "n/a" with its reason where one is known: never a raw None or dict.
"""

from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from resnet_pipeline.reports.html import STYLE  # noqa: E402
from resnet_pipeline.reports.plots import _png, data_uri, equity_curves  # noqa: E402

EXPLAINED = (
    (
        "Deflated Sharpe ratio (DSR)",
        "The probability that the best variant's true Sharpe ratio beats the best Sharpe ratio "
        "that N skill-less trials would reach by luck, given how much the trials' Sharpe ratios "
        "vary and the skew and fat tails of the daily returns (Bailey & López de Prado 2014). "
        "An edge needs DSR >= 0.95.",
    ),
    (
        "Probability of backtest overfitting (PBO)",
        "The days are cut into S blocks and every half of them picks its best variant; PBO is "
        "how often that pick ranks at or below the median on the other half (Bailey et al. "
        "2017). Below 0.5, picking the best variant on past days tends to pick a good one.",
    ),
    (
        "Superior predictive ability (SPA)",
        "Hansen's test of whether any of the variants beats a benchmark's daily returns, with "
        "a p-value that accounts for having tried all of them (Hansen 2005, arch). An edge "
        "needs p < 0.05 against buy-and-hold and against the best baseline.",
    ),
)


def number(value: object, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.{digits}g}"
    return str(value)


def interval(value: dict | None) -> str:
    if not value or value.get("estimate") is None:
        return "n/a"
    if value.get("low") is None:
        return f"{number(value['estimate'])} (no interval)"
    return f"{number(value['estimate'])} [{number(value['low'])}, {number(value['high'])}]"


def reliability_plot(before: dict, after: dict) -> bytes:
    """Accuracy against confidence per bin (``CalibrationError.to_dict``), before and after
    temperature scaling; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.4, 4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for name, errors in (("raw", before), ("calibrated", after)):
        points = [(b["confidence"], b["accuracy"]) for b in errors["bins"] if b["count"]]
        if points:
            x, y = zip(*points, strict=True)
            ax.plot(x, y, marker="o", label=f"{name} (ECE {errors['ece']:.3g})")
    ax.set(xlabel="confidence (top-class probability)", ylabel="accuracy", title="reliability")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def _table(rows: list[dict], columns: list[str]) -> str:
    """Missing cells stay empty; a cell that is None reads n/a."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(number(r[c]) if c in r else '')}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _leaderboard_rows(lines: list[dict]) -> list[dict]:
    rows = []
    for rank, line in enumerate(lines, 1):
        shown = line["intervals"]
        won = line["months_won"]
        rows.append(
            {
                "rank": f"{rank}{' (best)' if line['best'] else ''}",
                "trial": line["trial"],
                "probabilities": line["probabilities"],
                "accuracy": interval(shown["accuracy"]),
                "macro F1": interval(shown["macro_f1"]),
                "AUC": interval(shown["auc_roc_ovr"]),
                "log loss": interval(shown["log_loss"]),
                "Sharpe after costs": interval(shown["sharpe_after_costs"]),
                "trades": line["trades"],
                "months won (acc/AUC) vs majority, logistic, trees": ", ".join(
                    f"{won[f'accuracy_vs_{b}']}/{won[f'auc_roc_ovr_vs_{b}']}"
                    for b in ("majority", "logistic", "trees")
                )
                + f" of {line['months']}",
                "ECE raw -> calibrated": f"{number(line['calibration']['before']['ece'], 3)}"
                f" -> {number(line['calibration']['after']['ece'], 3)}",
            }
        )
    return rows


def _baseline_rows(lines: list[dict]) -> list[dict]:
    rows = []
    for line in lines:
        for base in ("majority", "logistic", "trees"):
            metrics = line[base]
            rows.append(
                {
                    "trial": line["trial"],
                    "baseline": base,
                    "accuracy": metrics["accuracy"],
                    "macro F1": metrics["macro_f1"],
                    "AUC": metrics["auc_roc_ovr"],
                    "log loss": metrics["log_loss"],
                }
            )
    return rows


def _statistics_rows(statistics: dict) -> list[dict]:
    dsr, pbo = statistics["deflated_sharpe"], statistics["overfitting"]
    rows = [
        {"quantity": "N (trials in the ledger)", "value": statistics["n_trials"]},
        {"quantity": "DSR of the best trial", "value": dsr["value"], "note": dsr["reason"] or ""},
        {"quantity": "best trial's Sharpe per day", "value": dsr["sharpe"]},
        {"quantity": "SR0 (best of N by luck, per day)", "value": dsr["expected_max_sharpe"]},
        {"quantity": "variance of the trials' Sharpe", "value": dsr["trial_sharpe_variance"]},
        {"quantity": "days T", "value": dsr["days"]},
        {"quantity": "PBO", "value": pbo["pbo"], "note": pbo["reason"] or ""},
        {
            "quantity": "PBO blocks S / days per block",
            "value": f"{pbo['blocks']} / {pbo['block_days']}",
        },
    ]
    for spa in statistics["predictive_ability"]:
        rows.append(
            {
                "quantity": f"SPA consistent p vs {spa['benchmark']}",
                "value": spa["consistent"],
                "note": spa["reason"]
                or f"lower {number(spa['lower'])}, upper {number(spa['upper'])}",
            }
        )
    return rows


def experiment_html(summary: dict, best_equity: pd.Series, benchmark_equity: pd.Series) -> str:
    title = f"{summary['experiment']} / {summary['symbol']}"
    verdict_css = "met" if summary["edge"] else "missed"
    lines = summary["leaderboard"]
    best = next(line for line in lines if line["trial"] == summary["best_trial"])
    conventions = summary["conventions"]
    reliability = reliability_plot(best["calibration"]["before"], best["calibration"]["after"])
    parts = [
        f"<h1>Experiment {html.escape(title)}</h1>",
        f'<p class="{verdict_css}">{html.escape(summary["verdict"])}</p>',
        f"<p>{summary['n_trials']} trials in the ledger, {summary['scored_trials']} scored over "
        f"every month ({', '.join(summary['months'])}); scored on the "
        f"{summary['common_minutes']:,} minutes every scored trial predicted, "
        f"{html.escape(summary['period'][0])} to {html.escape(summary['period'][1])}, "
        f"{summary['days']} days. Best baseline (SPA benchmark): "
        f"{html.escape(summary['best_baseline'])}.</p>",
        '<div class="note"><ul>'
        + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in conventions.items())
        + "<li>probabilities: the ones each trial's strategy reads (calibrated = temperature-"
        "scaled on the fold's validation split; model = raw softmax)</li></ul></div>",
        "<h2>Leaderboard</h2>",
        _table(_leaderboard_rows(lines), list(_leaderboard_rows(lines)[0])),
        "<h2>Verdict</h2>",
        _table(_statistics_rows(summary["statistics"]), ["quantity", "value", "note"]),
        "<ul>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in summary["statistics"]["reasons"])
        + "</ul>",
        "".join(f"<p><b>{html.escape(k)}.</b> {html.escape(v)}</p>" for k, v in EXPLAINED),
        "<h2>Baselines, refitted on each fold's training rows</h2>",
        _table(
            _baseline_rows(lines), ["trial", "baseline", "accuracy", "macro F1", "AUC", "log loss"]
        ),
        "<h2>The trial ledger</h2>",
        (
            "<p>Counted in N but not ranked (not every month predicted yet):</p><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in summary["incomplete"])
            + "</ul>"
            if summary.get("incomplete")
            else ""
        ),
        _table(
            summary["ledger"],
            ["trial", "variant", "standing", "months_done", "scored", "created"],
        ),
        f"<h2>Calibration of the best trial ({html.escape(best['trial'])})</h2>",
        f'<img alt="reliability" src="{data_uri(reliability)}">',
        f"<h2>Equity of the best trial ({html.escape(best['trial'])}) vs. buy-and-hold</h2>",
        f'<img alt="equity" src="{data_uri(equity_curves(best_equity, benchmark_equity))}">',
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
