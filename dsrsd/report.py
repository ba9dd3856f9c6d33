"""Benchmark report: results tables (CSV and JSON), a paired bootstrap, plotly figures and a Markdown section."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
from sklearn.metrics import roc_auc_score

from dsrsd.data import MODALITIES
from dsrsd.metrics import AT_RISK_INDEX

SECTION_START = "<!-- benchmark-grid:start -->"
SECTION_END = "<!-- benchmark-grid:end -->"
DSRSD = "dsrsd"


def results_table(records: list[dict]) -> pd.DataFrame:
    """Flatten the runs into one row per run and perturbation of its robustness sweep."""
    rows = []
    for record in records:
        base = {key: record[key] for key in ("id", "group", "cutoff", "name", "kind", "seed")}
        base["validation_auc"] = record["metrics"]["validation"]["at_risk_auc"]
        base["train_seconds"] = record["train_seconds"]
        rows += [{**base, **row} for row in record["robustness"]]
    table = pd.DataFrame(rows)
    table["cutoff"] = table["cutoff"].astype(str)
    return table


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the clean metrics and the single-knockout retention."""
    clean = results[results["perturbation"] == "none"]
    summary = clean.groupby(["group", "cutoff", "name"], sort=False).agg(
        kind=("kind", "first"), seeds=("seed", "nunique"),
        auc_mean=("at_risk_auc", "mean"), auc_std=("at_risk_auc", "std"),
        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
        macro_f1_mean=("macro_f1", "mean"), macro_f1_std=("macro_f1", "std"),
        validation_auc=("validation_auc", "mean"), train_seconds=("train_seconds", "mean"),
    )
    single = results[(results["perturbation"] == "knockout") & results["knocked_out"].isin(MODALITIES)]
    retention = single.pivot_table(index=["group", "cutoff", "name"], columns="knocked_out",
                                   values="at_risk_auc_retention", aggfunc="mean")
    retention.columns = [f"retention_{m}" for m in retention.columns]
    summary = summary.join(retention)
    summary["knockout_retention"] = summary[[c for c in summary if c.startswith("retention_")]].mean(axis=1)
    return summary.reset_index()


def _auc(labels_at_risk: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels_at_risk, scores))


def paired_bootstrap(runs_dir: Path, first: list[str], second: list[str], resamples: int, seed: int = 0) -> dict:
    """Bootstrap the test rows and compare the seed-mean AUC of two models on the same resamples.

    `first` and `second` are run ids; returns the observed difference (first - second) and its 95%
    percentile interval.
    """
    def load(run_id):
        with np.load(runs_dir / f"{run_id}.npz") as arrays:
            return arrays["at_risk"], np.isin(arrays["labels"], AT_RISK_INDEX)

    first_runs, second_runs = [load(r) for r in first], [load(r) for r in second]
    labels = first_runs[0][1]
    observed = np.mean([_auc(labels, s) for s, _ in first_runs]) - np.mean([_auc(labels, s) for s, _ in second_runs])
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(labels), len(labels))
        if labels[rows].all() or not labels[rows].any():
            continue
        differences.append(np.mean([_auc(labels[rows], s[rows]) for s, _ in first_runs])
                           - np.mean([_auc(labels[rows], s[rows]) for s, _ in second_runs]))
    low, high = np.percentile(differences, [2.5, 97.5]) if differences else (np.nan, np.nan)
    return {"difference": float(observed), "low": float(low), "high": float(high), "resamples": len(differences)}


def comparisons(records: list[dict], summary: pd.DataFrame, runs_dir: Path, resamples: int) -> list[dict]:
    """For each cutoff, DSRSD-Net against the baseline with the best mean validation AUC (never test)."""
    output = []
    main = summary[summary["group"] == "main"]
    for cutoff, part in main.groupby("cutoff", sort=False):
        baselines = part[part["kind"] != DSRSD]
        if DSRSD not in set(part["name"]) or baselines.empty:
            continue
        best = baselines.sort_values("validation_auc", ascending=False).iloc[0]["name"]
        ids = {name: [r["id"] for r in records if r["group"] == "main" and str(r["cutoff"]) == cutoff and r["name"] == name]
               for name in (DSRSD, best)}
        output.append({"cutoff": cutoff, "baseline": best,
                       **paired_bootstrap(runs_dir, ids[DSRSD], ids[best], resamples)})
    return output


def write_figures(results: pd.DataFrame, summary: pd.DataFrame, folder: Path) -> list[Path]:
    """Write the AUC-by-cutoff bars, the missing-modality matrices and the noise curves as HTML."""
    folder.mkdir(parents=True, exist_ok=True)
    main = results[results["group"] == "main"]
    written = []
    bars = px.bar(summary[summary["group"] == "main"], x="name", y="auc_mean", error_y="auc_std", color="cutoff",
                  barmode="group", title="Test at-risk AUC, mean and std over seeds")
    bars.update_yaxes(range=[0.5, 1.0])
    written.append(folder / "auc_by_cutoff.html")
    bars.write_html(written[-1], include_plotlyjs="cdn")
    for cutoff, part in main.groupby("cutoff", sort=False):
        knocked = part[part["perturbation"].isin(["none", "knockout"])]
        matrix = knocked.pivot_table(index="present", columns="name", values="at_risk_auc", aggfunc="mean")
        figure = px.imshow(matrix, text_auto=".3f", zmin=0.5, zmax=1.0, color_continuous_scale="Viridis",
                           title=f"Test at-risk AUC by modalities present, cutoff {cutoff}")
        written.append(folder / f"missing_modalities_{cutoff}.html")
        figure.write_html(written[-1], include_plotlyjs="cdn")
        noisy = part[part["perturbation"].isin(["none", "noise"])]
        curves = pd.concat([noisy[noisy["perturbation"] == "noise"]]
                           + [noisy[noisy["perturbation"] == "none"].assign(noise_modality=m) for m in MODALITIES])
        curves = curves.groupby(["name", "noise_modality", "noise_std"], as_index=False)["at_risk_auc"].mean()
        figure = px.line(curves, x="noise_std", y="at_risk_auc", color="name", facet_col="noise_modality", markers=True,
                         title=f"Test at-risk AUC under Gaussian noise (normalised units), cutoff {cutoff}")
        written.append(folder / f"noise_{cutoff}.html")
        figure.write_html(written[-1], include_plotlyjs="cdn")
    return written


def target_lines(summary: pd.DataFrame) -> list[str]:
    """Check the two targets on the seed means: DSRSD-Net's AUC against every baseline at every cutoff,
    and its single-knockout AUC retention against early fusion and co-attention."""
    lines = ["### Targets", "",
             "| cutoff | target | DSRSD-Net | other | met |", "|---|---|---|---|---|"]
    main = summary[summary["group"] == "main"]
    for cutoff, part in main.groupby("cutoff", sort=False):
        rows = part.set_index("name")
        if DSRSD not in rows.index:
            continue
        ours = rows.loc[DSRSD]
        for name, row in rows[~rows["kind"].isin([DSRSD])].iterrows():
            if str(row["kind"]).startswith("single:"):
                continue
            met = "yes" if ours["auc_mean"] >= row["auc_mean"] else "no"
            lines.append(f"| {cutoff} | test AUC at least {name}'s | {ours['auc_mean']:.4f} | {row['auc_mean']:.4f} | {met} |")
        for name in ("early", "coattention"):
            if name not in rows.index:
                continue
            for m in MODALITIES:
                column = f"retention_{m}"
                if column not in rows.columns:
                    continue
                met = "yes" if ours[column] > rows.loc[name, column] else "no"
                lines.append(f"| {cutoff} | AUC retention with {m} out above {name}'s | {ours[column]:.4f} | "
                             f"{rows.loc[name, column]:.4f} | {met} |")
    lines.append("")
    return lines


def _pm(mean, std) -> str:
    return f"{mean:.4f} ± {std:.4f}" if np.isfinite(std) else f"{mean:.4f}"


def markdown_section(summary: pd.DataFrame, results: pd.DataFrame, compared: list[dict], config: dict, args) -> str:
    """Render the benchmark section of docs/BENCHMARKS.md."""
    command = "python -m dsrsd.benchmark --config " + str(args.config) + (" --quick" if args.quick else "")
    protocol = config["protocol"]
    lines = [
        SECTION_START,
        "## Baselines, ablations and robustness (benchmark grid)",
        "",
        f"Command: `{command}` (written by it; {time.strftime('%Y-%m-%d', time.gmtime())}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no GPU, one torch thread). Every neural run trains for at most "
        f"{protocol.get('epochs')} epochs with patience {protocol.get('patience')}, and keeps the epoch with the best "
        f"validation at-risk AUC. Seeds {protocol['seeds']}; the test split is 2014J. Values are mean ± std over seeds.",
        "",
    ]

    main = summary[summary["group"] == "main"]
    for cutoff, part in main.groupby("cutoff", sort=False):
        lines += [f"### Cutoff {cutoff}", "",
                  "| model | seeds | test at-risk AUC | accuracy | macro-F1 | validation AUC | knockout retention | "
                  "profile out | assessments out | engagement out | train s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in part.itertuples():
            retention = [getattr(row, f"retention_{m}", np.nan) for m in MODALITIES]
            lines.append(
                f"| {row.name} | {row.seeds} | {_pm(row.auc_mean, row.auc_std)} | {_pm(row.accuracy_mean, row.accuracy_std)} | "
                f"{_pm(row.macro_f1_mean, row.macro_f1_std)} | {row.validation_auc:.4f} | {row.knockout_retention:.4f} | "
                + " | ".join(f"{value:.4f}" for value in retention) + f" | {row.train_seconds:.0f} |")
        lines.append("")

    if compared:
        lines += ["### DSRSD-Net against the best baseline", "",
                  "The best baseline is the one with the highest mean validation AUC. The interval is a paired bootstrap "
                  "(test rows resampled, the same resamples for both models) of the difference of seed-mean test AUCs.", "",
                  "| cutoff | best baseline | AUC difference (DSRSD-Net - baseline) | 95% interval | resamples |",
                  "|---|---|---|---|---|"]
        lines += [f"| {c['cutoff']} | {c['baseline']} | {c['difference']:+.4f} | [{c['low']:+.4f}, {c['high']:+.4f}] | "
                  f"{c['resamples']} |" for c in compared]
        lines.append("")
    lines += target_lines(summary)

    transfer = summary[summary["group"] == "transfer"]
    if not transfer.empty:
        modules = config.get("transfer", {}).get("train_modules", [])
        lines += ["### Transfer across courses", "",
                  f"Trained on every presentation of {', '.join(modules)}, tested on every presentation of the other modules.", "",
                  "| model | seeds | test at-risk AUC | accuracy | macro-F1 | knockout retention |", "|---|---|---|---|---|---|"]
        lines += [f"| {row.name} | {row.seeds} | {_pm(row.auc_mean, row.auc_std)} | {_pm(row.accuracy_mean, row.accuracy_std)} | "
                  f"{_pm(row.macro_f1_mean, row.macro_f1_std)} | {row.knockout_retention:.4f} |" for row in transfer.itertuples()]
        lines.append("")

    lines += [
        "### How the robustness numbers are computed", "",
        "For each run, the test split is evaluated three ways: clean, with every non-empty proper subset of the "
        "modalities knocked out (the modality and its presence bit hidden), and with Gaussian noise added to one "
        f"modality at a time. The noise standard deviations are {protocol.get('noise_levels')}, in normalised units. The retention of a metric is its value "
        "under the perturbation divided by its clean value for the same run. *Knockout retention* is the mean, over the "
        "three modalities, of the at-risk AUC retention with that one modality knocked out; the three columns after it "
        "are the single terms. Every number is then averaged over seeds. The per-perturbation values (AUC, accuracy, "
        "macro-F1 and their retention) are in `results.csv` beside the figures.",
        "",
        SECTION_END,
    ]
    return "\n".join(lines)


def update_docs(path: Path, section: str) -> None:
    """Replace the benchmark section of a Markdown file, or append it when the file has none."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def write_report(records: list[dict], runs_dir: Path, out: Path, docs: Path | None, config: dict, args) -> None:
    results = results_table(records)
    summary = summary_table(results)
    compared = comparisons(records, summary, runs_dir, int(config["protocol"].get("bootstrap", 1000)))
    results.to_csv(out / "results.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "results.json").write_text(json.dumps({
        "summary": summary.to_dict(orient="records"), "comparisons": compared, "runs": records,
    }, indent=1, allow_nan=True))
    write_figures(results, summary, out / "figures")
    if docs is not None:
        update_docs(docs, markdown_section(summary, results, compared, config, args))
