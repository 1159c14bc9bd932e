"""The experiment report (``reports.research_page``, the walk-forward report's builder): the
headline (the verdict's conditions), the plots (every trial's Sharpe, then the best trial's
calibration, equity and diagnostics), then the tables (leaderboard, the verdict's statistics,
baselines, the ledger) and what the tests mean.

Numbers go through ``number_format`` (4 significant digits, never a raw None or dict); an
interval reads ``estimate [low, high]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from resnet_pipeline.ml.evaluation.importance_pooling import pooled_importance  # noqa: E402
from resnet_pipeline.ml.evaluation.permutation_importance import CHANNEL  # noqa: E402
from resnet_pipeline.ml.evaluation.run_settings import RunSettings  # noqa: E402
from resnet_pipeline.ml.trial_statistics.trial_verdict import (  # noqa: E402
    MAX_OVERFITTING,
    MIN_DEFLATED_SHARPE,
    SPA_ALPHA,
    kept,
    shown_deflated_sharpe,
    shown_overfitting,
    shown_p,
)
from resnet_pipeline.number_format import (  # noqa: E402
    PERCENT,
    PLAIN,
    UNIT_NOTE,
    count,
    interval,
    number,
    percent,
    percent_interval,
    short,
    signed_percent,
)
from resnet_pipeline.reports import diagnostic_plots as draw  # noqa: E402
from resnet_pipeline.reports.first_screen import OtherView, first_screen_html  # noqa: E402
from resnet_pipeline.reports.html import table  # noqa: E402
from resnet_pipeline.reports.importance_figures import (  # noqa: E402
    importance_figures,
    importance_html,
)
from resnet_pipeline.reports.page import Figure  # noqa: E402
from resnet_pipeline.reports.plots import png  # noqa: E402
from resnet_pipeline.reports.research_page import (  # noqa: E402
    ResearchPage,
    TrialView,
    research_page,
)
from resnet_pipeline.reports.trade_story import exit_reasons_html, why_line  # noqa: E402
from resnet_pipeline.trading.trade_breakdown import quote_currency, trade_breakdown  # noqa: E402
from resnet_pipeline.verdicts import (  # noqa: E402
    BETTER,
    ENOUGH,
    NO_DIFFERENT,
    TOO_FEW,
    UNDEFINED,
    Condition,
    Headline,
)

BASELINES = ("majority", "logistic", "trees")
EXPLAINED = [
    "Deflated Sharpe ratio (DSR): the probability that the best trial's true Sharpe ratio "
    "beats the best one that N skill-less trials would reach by luck, given how much the "
    "trials' Sharpe ratios vary and the skew and fat tails of the daily returns (Bailey & "
    f"López de Prado 2014). An edge needs DSR >= {MIN_DEFLATED_SHARPE:g}.",
    "Probability of backtest overfitting (PBO): the days are cut into S blocks and every half "
    "of them picks its best trial; PBO is how often that pick ranks at or below the median on "
    f"the other half (Bailey et al. 2017). An edge needs PBO < {MAX_OVERFITTING:g}.",
    "Superior predictive ability (SPA): Hansen's test (2005, through arch) of whether any of "
    "the trials beats a benchmark's daily returns, with a p-value that accounts for having "
    f"tried them all. An edge needs p < {SPA_ALPHA:g} against buy-and-hold and against the "
    "best baseline.",
    "Stepwise test (StepM): SPA says whether some trial beats a benchmark; Romano and Wolf's "
    "stepwise test (2005, through arch) says which, keeping the chance of naming any trial "
    f"that is in truth no better at {SPA_ALPHA:.0%}. An edge needs the best trial among them "
    "against each benchmark; the leaderboard's 'beats' column lists them.",
    "Evidence: the best trial's trades and its days with a non-zero return. Below the floor "
    "the verdict says 'too few trades to judge': the deflated Sharpe's normal approximation "
    "and the resampling tests do not hold on a handful of winning days.",
]


def with_interval(values: dict | None, unit: str = PLAIN) -> str:
    """``estimate [low, high]`` in ``unit`` (a share: percent)."""
    values = values or {}
    if values.get("estimate") is None:
        return number(None)
    if unit == PERCENT:
        bounds = percent_interval(values.get("low"), values.get("high"))
        return f"{percent(values['estimate'])} {bounds}"
    return f"{number(values['estimate'])} {interval(values.get('low'), values.get('high'))}"


def calibration_plot(before: dict, after: dict) -> bytes:
    """Accuracy against confidence per bin (``CalibrationError.to_dict``), before and after
    temperature scaling; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, errors in (("raw", before), ("calibrated", after)):
        points = [(b["confidence"], b["accuracy"]) for b in errors["bins"] if b["count"]]
        if points:
            x, y = zip(*points, strict=True)
            ax.plot(x, y, marker="o", label=f"{name} (ECE {short(errors['ece'])})")
    ax.set(xlabel="confidence (top-class probability)", ylabel="accuracy", xlim=(0, 1))
    ax.set(ylim=(0, 1), title="reliability (15 equal-width bins)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return png(fig)


def _condition(
    subject: str,
    key: str,
    value,
    holds: bool | None,
    need: str,
    why: str | None,
    shown: Callable[[float], str] = short,
):
    if value is None:
        return Condition(subject, UNDEFINED, why or "not computed", key)
    word = BETTER if holds else NO_DIFFERENT
    text = shown(value)
    return Condition(subject, word, f"{text}; an edge needs {need}", key, value, shown=text)


def verdict_headline(statistics: dict) -> Headline:
    """The verdict's conditions as a headline: EDGE only when each holds."""
    dsr, pbo = statistics["deflated_sharpe"], statistics["overfitting"]
    n = statistics["n_trials"]
    conditions = [
        _evidence(statistics["evidence"]),
        _condition(
            f"deflated Sharpe of the best of {n} trials",
            "dsr",
            dsr["value"],
            dsr["value"] is not None and dsr["value"] >= MIN_DEFLATED_SHARPE,
            f">= {MIN_DEFLATED_SHARPE:g}",
            dsr["reason"],
            shown_deflated_sharpe,
        ),
        _condition(
            "probability of backtest overfitting",
            "pbo",
            pbo["pbo"],
            pbo["pbo"] is not None and pbo["pbo"] < MAX_OVERFITTING,
            f"< {MAX_OVERFITTING:g}",
            pbo["reason"],
            shown_overfitting,
        ),
    ]
    for spa in statistics["predictive_ability"]:
        p = spa["consistent"]
        conditions.append(
            _condition(
                f"SPA p-value vs {spa['benchmark']}",
                f"spa_p_{spa['benchmark'].replace('-', '_').replace(' ', '_')}",
                p,
                p is not None and p < SPA_ALPHA,
                f"< {SPA_ALPHA:g}",
                spa["reason"],
                lambda p, reps=spa["reps"]: shown_p(p, reps),
            )
        )
    evidence = statistics["evidence"]
    passed = {  # where the SPA fails or is undefined, its own line says enough
        spa["benchmark"]
        for spa in statistics["predictive_ability"]
        if spa["consistent"] is not None and spa["consistent"] < SPA_ALPHA
    }
    conditions += [
        _stepwise(evidence["trial"], step)
        for step in statistics["stepwise"]
        if step["benchmark"] in passed
    ]
    rule = (
        f"EDGE after N trials only when the best trial has >= {evidence['min_trades']} trades "
        f"on >= {evidence['min_active_days']} days, DSR >= {MIN_DEFLATED_SHARPE:g}, PBO < "
        f"{MAX_OVERFITTING:g}, SPA p < {SPA_ALPHA:g} and it is among StepM's winners against "
        "each benchmark"
    )
    return Headline(tuple(conditions), rule=rule)


def _evidence(evidence: dict) -> Condition:
    """The trades and active days the verdict rests on, against the floor."""
    trades, days = count(evidence["trades"], "trade"), count(evidence["active_days"], "day")
    need = (
        f"an edge needs at least {count(evidence['min_trades'], 'trade')} on at least "
        f"{count(evidence['min_active_days'], 'day')}"
    )
    word = ENOUGH if evidence["enough"] else TOO_FEW
    subject = f"trades of the best trial ({evidence['trial']})"
    return Condition(
        subject, word, f"{trades} on {days}; {need}", "best_trial_trades", evidence["trades"]
    )


def _stepwise(judged: str, step: dict) -> Condition:
    """Whether StepM counts ``judged`` among the trials that beat the benchmark."""
    subject = f"StepM vs {step['benchmark']}"
    if step["reason"]:
        return Condition(subject, UNDEFINED, step["reason"], "stepm")
    among = f"the trials that beat it at {step['size']:.0%}"
    if judged in step["better"]:
        return Condition(
            subject, BETTER, f"{judged} is among {among}: {kept(step['better'])}", "stepm"
        )
    detail = f"{judged} is not among {among}; StepM keeps {kept(step['better'])}"
    return Condition(subject, NO_DIFFERENT, detail, "stepm")


NEVER_TRADED = "never traded"


def rank_label(rank: int, line: dict) -> str:
    """'3', '1 (best)', '1 (best, lost 4.2%)' or 'never traded': a trial without trades has
    no Sharpe ratio to rank by, and a best trial that lost money says so."""
    if not line["trades"]:
        return NEVER_TRADED
    if not line["best"]:
        return str(rank)
    total = line.get("total_return")
    if total is not None and total < 0:
        return f"{rank} (best, lost {percent(-total)})"
    return f"{rank} (best)"


def _sharpe_cell(line: dict) -> str:
    if not line["trades"]:
        return "none: 0 trades"
    return with_interval(line["intervals"]["sharpe_after_costs"])


def _leaderboard(lines: list[dict]) -> str:
    rows = []
    for rank, line in enumerate(lines, 1):
        shown, won = line["intervals"], line["months_won"]
        rows.append(
            {
                "rank": rank_label(rank, line),
                "trial": line["trial"],
                "probabilities": line["probabilities"],
                "accuracy": with_interval(shown["accuracy"], PERCENT),
                "macro F1": with_interval(shown["macro_f1"]),
                "AUC": with_interval(shown["auc_roc_ovr"]),
                "log loss": with_interval(shown["log_loss"]),
                "Sharpe after costs": _sharpe_cell(line),
                "net return": signed_percent(line.get("total_return")),
                "trades": count(line["trades"], "trade"),
                "beats at 5% (StepM)": ", ".join(line["beats"]) or "none",
                "months won, accuracy / AUC (majority; logistic; trees)": "; ".join(
                    f"{won[f'accuracy_vs_{b}']} / {won[f'auc_roc_ovr_vs_{b}']}" for b in BASELINES
                )
                + f" of {line['months']}",
                "ECE raw -> calibrated": f"{short(line['calibration']['before']['ece'])} -> "
                f"{short(line['calibration']['after']['ece'])}",
            }
        )
    return table(rows, list(rows[0]))


def _statistics(statistics: dict) -> str:
    dsr, pbo = statistics["deflated_sharpe"], statistics["overfitting"]
    rows = [
        {"quantity": "N (trials in the ledger)", "value": statistics["n_trials"]},
        {"quantity": "DSR of the best trial", "value": shown_deflated_sharpe(dsr["value"])},
        {"quantity": "best trial's Sharpe, per day", "value": dsr["sharpe"]},
        {"quantity": "SR0: the best of N by luck, per day", "value": dsr["expected_max_sharpe"]},
        {"quantity": "variance of the trials' Sharpe", "value": dsr["trial_sharpe_variance"]},
        {"quantity": "days T", "value": dsr["days"]},
        {"quantity": "PBO", "value": shown_overfitting(pbo["pbo"])},
        {"quantity": "PBO blocks S x days", "value": f"{pbo['blocks']} x {pbo['block_days']}"},
    ]
    for spa in statistics["predictive_ability"]:
        p = shown_p(spa["consistent"], spa["reps"])
        rows.append({"quantity": f"SPA consistent p vs {spa['benchmark']}", "value": p})
    for step in statistics["stepwise"]:
        quantity = f"StepM: trials that beat {step['benchmark']} at {step['size']:.0%}"
        rows.append({"quantity": quantity, "value": step["reason"] or kept(step["better"])})
    evidence = statistics["evidence"]
    trades = f"{count(evidence['trades'], 'trade')} on {count(evidence['active_days'], 'day')}"
    rows.append({"quantity": f"trades of the best trial ({evidence['trial']})", "value": trades})
    return table(rows, ["quantity", "value"])


def _baselines(lines: list[dict]) -> str:
    rows = [
        {
            "trial": line["trial"],
            "baseline": base,
            "accuracy": percent(line[base]["accuracy"]),
            "macro F1": line[base]["macro_f1"],
            "AUC": line[base]["auc_roc_ovr"],
            "log loss": line[base]["log_loss"],
        }
        for line in lines
        for base in BASELINES
    ]
    return table(rows, ["trial", "baseline", "accuracy", "macro F1", "AUC", "log loss"])


def drawn_trial(summary: dict) -> tuple[dict, str]:
    """The trial the page draws and how to call it: the best one, or, when no trial traded,
    the first on the leaderboard, said so."""
    lines = summary["leaderboard"]
    line = next(line for line in lines if line["trial"] == summary["best_trial"])
    if line["best"]:
        lost = (line.get("total_return") or 0) < 0
        return line, f"the best trial ({line['trial']}{', which lost money' if lost else ''})"
    return line, f"{line['trial']} (no trial traded: the first on the leaderboard)"


def _sharpe_caption(lines: list[dict]) -> str:
    idle = [line["trial"] for line in lines if not line["trades"]]
    caption = "Each trial taken alone, best first; the verdict above is what counts every trial."
    if idle:
        caption += f" 0 trades (no Sharpe ratio, listed last): {', '.join(idle)}."
    return caption


def importance_section(importance: dict) -> tuple[list[Figure], list[tuple[str, str]]]:
    """The best trial's importances: its model's figures and tables on the metric the summary
    reads them on, then the model on log loss and the trees, as tables."""
    per_fold = {m: pd.DataFrame(records) for m, records in importance["folds"].items()}
    trial, metric = importance["trial"], importance["read_on"]
    figures, tables = importance_figures(per_fold, trial, "model", metric)
    pooled = pooled_importance(per_fold)
    for predictor, other in (("model", "log_loss"), ("trees", metric)):
        tables.append(
            (
                f"Permutation importance per channel on {other}: {trial} ({predictor})",
                importance_html(pooled, predictor, CHANNEL, other),
            )
        )
    return figures, tables


def experiment_page(
    summary: dict,
    best_equity: pd.Series,
    benchmark_equity: pd.Series,
    best_predictions: pd.DataFrame,
    best_trades: pd.DataFrame,
    other_views: Sequence[OtherView] = (),
) -> ResearchPage:
    """``summary``: ``build_experiment_report``'s; the rest: the drawn trial's equity,
    buy-and-hold's, its predictions and trades; ``other_views``: other reports of the same
    question (e.g. the main job's backtest) and why its result differs."""
    lines = summary["leaderboard"]
    best, drawn = drawn_trial(summary)
    settings = RunSettings.from_dict(best["run_settings"])
    currency = quote_currency(summary["symbol"])
    breakdown = trade_breakdown(best_trades, settings.strategy.initial_equity)
    leading = [
        Figure(
            "plot_trial_sharpes",
            "Sharpe after costs of every scored trial",
            draw.interval_bars(
                [line["trial"] for line in lines],
                [line["intervals"]["sharpe_after_costs"] for line in lines],
                "Sharpe ratio after costs, annualized",
                "Sharpe ratio (annualized, daily returns after costs)",
                [count(line["trades"], "trade") for line in lines],
            ),
            _sharpe_caption(lines),
        ),
        Figure(
            "plot_calibration",
            f"Calibration of {drawn}",
            calibration_plot(best["calibration"]["before"], best["calibration"]["after"]),
            "Accuracy against the top-class probability, raw and temperature-scaled, over "
            "the common minutes of every month.",
        ),
    ]
    view = TrialView(best_predictions, best["threshold"], best_equity, benchmark_equity)
    ledger = table(
        summary["ledger"], ["trial", "variant", "standing", "months_done", "scored", "created"]
    )
    tables = [
        ("Leaderboard (best first; trials that never traded last)", _leaderboard(lines)),
        (f"Trades by exit reason: {drawn}", exit_reasons_html(breakdown, currency)),
        ("The verdict's statistics", _statistics(summary["statistics"])),
        ("Baselines, refitted on each fold's training rows", _baselines(lines)),
        ("The trial ledger (N counts every row)", ledger),
    ]
    notes = [
        f"{summary['n_trials']} trials in the ledger, {summary['scored_trials']} scored over "
        f"every month ({', '.join(summary['months'])}).",
        f"Scored on the {number(summary['common_minutes'])} minutes every scored trial "
        f"predicted ({summary['period'][0]} to {summary['period'][1]}), {summary['days']} days.",
        f"Best baseline (an SPA benchmark): {summary['best_baseline']}.",
        *summary.get("incomplete", []),
    ]
    conventions = [f"{k}: {v}" for k, v in summary["conventions"].items()] + [
        "probabilities: the ones each trial's strategy reads (calibrated: temperature-scaled "
        "on the fold's validation split; model: the raw softmax)"
    ]
    conventions.append(UNIT_NOTE)
    importance = summary.get("importance")
    if importance:
        figures, shown = importance_section(importance)
        leading += figures
        tables[1:1] = shown
    verdict = verdict_headline(summary["statistics"])
    why = f"{drawn[0].upper()}{drawn[1:]}: {why_line(breakdown, currency)}"
    looks_at = (importance["line"],) if importance else ()
    headline = Headline(verdict.conditions, (why, *looks_at, *verdict.notes), verdict.rule)
    return research_page(
        f"Experiment {summary['experiment']} / {summary['symbol']}",
        summary["verdict"],
        headline,
        view,
        tables,
        notes,
        [("What the tests mean", EXPLAINED), ("Conventions", conventions)],
        leading,
        first_screen_html(settings, other_views),
    )
