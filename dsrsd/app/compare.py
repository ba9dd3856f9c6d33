"""Comparing shipped models in the app: DSRSD-Net and every baseline checkpoint, on one learner or a cohort.

Only checkpoints trained on the same data source, cutoff and modalities are compared. Each encodes
the data with its own fitted encoder, so models are matched by registration key, never by row position.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from dsrsd.checkpoint import CONFIG_FILE, Checkpoint, list_checkpoints, load_checkpoint
from dsrsd.data import OUTCOME_CLASSES, Encoded
from dsrsd.datasets import dataset_of
from dsrsd.inference import predict
from dsrsd.metrics import FINAL_OUTCOME, at_risk_probability
from dsrsd.perturb import Perturbation
from dsrsd.pipeline import encode_for_checkpoint
from dsrsd.robustness import robustness_sweep
from dsrsd.settings import CHECKPOINTS_DIR, REPO_ROOT

BASELINES_DIR = CHECKPOINTS_DIR / "baselines"
RESULTS_CSV = REPO_ROOT / "benchmarks" / "results" / "oulad" / "results.csv"
DSRSD_RESULTS_NAME = "dsrsd"


def data_signature(config: dict) -> tuple:
    """Return what two checkpoints must share to predict on the same learners with the same inputs."""
    data = config.get("data") or {}
    return (dataset_of(config), str(data.get("cutoff")), data.get("engagement_form"),
            json.dumps(data.get("synthetic"), sort_keys=True), json.dumps(data.get("spec"), sort_keys=True),
            tuple((config.get("schema") or {}).get("modalities", [])))


def shipped_models(reference: dict | None = None) -> dict[str, str]:
    """Map a display name to each shipped checkpoint, the top-level ones, then `checkpoints/baselines/`.

    With a `reference` config, keep only the checkpoints with its data signature. Without one, keep the
    OULAD final-outcome checkpoints, because the stored benchmark results are on that task.
    """
    models = {}
    for path in list_checkpoints(CHECKPOINTS_DIR) + list_checkpoints(BASELINES_DIR):
        try:
            config = json.loads((path / CONFIG_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            continue   # load_checkpoint reports a broken checkpoint where it is opened
        if reference:
            keep = data_signature(config) == data_signature(reference)
        else:
            keep = dataset_of(config) == "oulad" and config.get("task", FINAL_OUTCOME) == FINAL_OUTCOME
        if keep:
            models[path.name] = str(path)
    return models


def results_name(checkpoint_name: str, architecture: str) -> str:
    """Return the model's name in the benchmark results: a baseline's folder name, or "dsrsd" for DSRSD-Net."""
    return DSRSD_RESULTS_NAME if architecture == "dsrsd-net" else checkpoint_name


@st.cache_resource(show_spinner="Loading the model...")
def cached_model(path: str, device: str) -> Checkpoint:
    """Load any checkpoint kind; the weights of a neural one are frozen, because sessions share it."""
    checkpoint = load_checkpoint(path, device)
    if isinstance(checkpoint.model, torch.nn.Module):
        for parameter in checkpoint.model.parameters():
            parameter.requires_grad_(False)
    return checkpoint


@st.cache_resource(show_spinner="Encoding OULAD for the model...")
def cached_encoded(path: str, device: str, data_dir: str) -> Encoded:
    """Encode every registration for one checkpoint. The arrays are read-only, because sessions share them."""
    encoded = encode_for_checkpoint(cached_model(path, device), data_dir, "all")
    for array in list(encoded.inputs.values()) + list(encoded.masks.values()) + [encoded.present, encoded.labels]:
        array.flags.writeable = False
    return encoded


def rows_of(encoded: Encoded, keys: pd.DataFrame) -> np.ndarray:
    """Positions in `encoded` of the registrations in `keys`, in the order of `keys`; -1 where absent."""
    index = pd.MultiIndex.from_frame(encoded.keys[["code_module", "code_presentation", "id_student"]])
    return index.get_indexer(pd.MultiIndex.from_frame(keys[["code_module", "code_presentation", "id_student"]]))


@st.cache_data(max_entries=64, show_spinner=False)
def learner_comparison(paths: tuple[str, ...], device: str, data_dir: str, key: tuple[str, str, int],
                       knockout: tuple[str, ...], noise: tuple) -> pd.DataFrame:
    """Tabulate each model's outcome probabilities and at-risk probability for one learner, one row per model."""
    rows = []
    perturbation = Perturbation(knockout=knockout, noise=dict(noise))
    for path in paths:
        checkpoint = cached_model(path, device)
        encoded = cached_encoded(path, device, data_dir)
        position = rows_of(encoded, pd.DataFrame([key], columns=["code_module", "code_presentation", "id_student"]))[0]
        if position < 0:
            continue
        probabilities = predict(checkpoint.model, encoded.subset(np.array([position])), perturbation).probabilities[0]
        rows.append({"model": Path(path).name, "architecture": checkpoint.architecture,
                     "at_risk": float(at_risk_probability(probabilities[None])[0]),
                     **{f"P({name})": float(p) for name, p in zip(OUTCOME_CLASSES, probabilities)}})
    return pd.DataFrame(rows)


def comparison_ui(context, position: int) -> None:
    """Draw the table comparing every shipped model on the learner at `position` of the page's course."""
    models = shipped_models(context.checkpoint.config)
    if len(models) < 2:
        return
    keys = context.cohorts.encoded.keys.iloc[int(context.rows[position])]
    key = (str(keys["code_module"]), str(keys["code_presentation"]), int(keys["id_student"]))
    perturbation = context.selection.perturbation
    table = learner_comparison(tuple(models.values()), context.selection.device, context.data_dir, key,
                               tuple(perturbation.knockout), tuple(sorted(perturbation.noise.items())))
    st.subheader("Every shipped model on this learner")
    st.dataframe(table, hide_index=True, column_config={
        "at_risk": st.column_config.ProgressColumn("At-risk probability", min_value=0.0, max_value=1.0, format="%.2f"),
    })
    st.caption("Each model reads the same learner under the sidebar's what-if settings. The baselines are in "
               "`checkpoints/baselines/`; the Robustness page compares them over whole cohorts.")


def stored_results(path: Path | None = None) -> pd.DataFrame | None:
    """Read the benchmark grid's per-run robustness table (default `RESULTS_CSV`), or return None when it is missing."""
    path = path or RESULTS_CSV
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"cutoff": str}, keep_default_na=False, na_values=[""])


def missing_modality_matrix(results: pd.DataFrame, names: list[str], cutoff: str) -> pd.DataFrame:
    """Tabulate the mean test at-risk AUC over seeds, with the modalities present as rows and models as columns."""
    part = results[(results["group"] == "main") & (results["cutoff"] == cutoff) & results["name"].isin(names)
                   & results["perturbation"].isin(["none", "knockout"])]
    matrix = part.pivot_table(index="present", columns="name", values="at_risk_auc", aggfunc="mean")
    return _most_present_first(matrix).loc[:, [name for name in names if name in matrix.columns]]


def live_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Tabulate the live sweep's at-risk AUC with the modalities present as rows and the models as columns."""
    knocked = frame[frame["perturbation"].isin(["none", "knockout"])]
    matrix = knocked.pivot_table(index="present", columns="model", values="at_risk_auc")
    return _most_present_first(matrix).loc[:, list(dict.fromkeys(frame["model"]))]


def _most_present_first(matrix: pd.DataFrame) -> pd.DataFrame:
    return matrix.loc[sorted(matrix.index, key=lambda present: (-len(present.split("+")), present))]


def noise_curves(results: pd.DataFrame, names: list[str], cutoff: str) -> pd.DataFrame:
    """Average the test at-risk AUC over seeds per model, noisy modality and noise level (level 0 is clean)."""
    part = results[(results["group"] == "main") & (results["cutoff"] == cutoff) & results["name"].isin(names)]
    clean = part[part["perturbation"] == "none"]
    modalities = sorted(set(part.loc[part["perturbation"] == "noise", "noise_modality"]))
    curves = pd.concat([part[part["perturbation"] == "noise"]] + [clean.assign(noise_modality=m) for m in modalities])
    return curves.groupby(["name", "noise_modality", "noise_std"], as_index=False)["at_risk_auc"].mean()


def live_sweep(paths: list[str], device: str, data_dir: str, cohort_keys: pd.DataFrame, noise_levels: list[float],
               on_step=None) -> pd.DataFrame:
    """Run the robustness sweep of every model on one cohort; `on_step(done, total)` reports progress."""
    frames = []
    for index, path in enumerate(paths):
        checkpoint = cached_model(path, device)
        encoded = cached_encoded(path, device, data_dir)
        positions = rows_of(encoded, cohort_keys)
        cohort = encoded.subset(positions[positions >= 0])

        def step(done, total, index=index):
            if on_step is not None:
                on_step(index * total + done, len(paths) * total)

        rows = robustness_sweep(checkpoint.model, cohort, noise_levels, on_step=step)
        frames.append(pd.DataFrame(rows).assign(model=Path(path).name))
    return pd.concat(frames, ignore_index=True)
