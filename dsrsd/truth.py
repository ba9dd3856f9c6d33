"""Check explanations against the planted truth of a synthetic course (`dsrsd.data.synthetic`).

Three checks, each a plain function of a model, its encoded learners and their truth table:

- `decider_ranking`: for learners whose outcome one modality decides, does the modality-level
  Shapley attribution rank that modality first?
- `probe_r2`: how well does a linear probe recover each planted factor from the shared codes and
  from the private codes?
- `knockout_shifts`: how far does knocking out each modality move the at-risk probability of each
  group, in particular for modalities that carry no information on that group's outcome?
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dsrsd.attribution import modality_shapley
from dsrsd.data.encoding import Encoded
from dsrsd.data.synthetic import FACTORS, PRIVATE_FACTOR
from dsrsd.data.tables import REGISTRATION_KEY
from dsrsd.inference import predict
from dsrsd.metrics import at_risk_probability
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation

SHAPLEY_BATCH = 256
# R² by which each factor's own stream must out-read the other stream for the streams to count as
# separating it (`separation_margins`).
SEPARATION_MARGIN = 0.2


def align_truth(encoded: Encoded, truth: pd.DataFrame) -> pd.DataFrame:
    """Return the truth rows in the order of `encoded.keys`; raise ValueError when a learner has none."""
    merged = encoded.keys[REGISTRATION_KEY].merge(truth, on=REGISTRATION_KEY, how="left", validate="one_to_one")
    missing = merged[FACTORS[0]].isna()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} learner(s) have no row in the truth table, for example "
            f"{merged.loc[missing, REGISTRATION_KEY].iloc[0].tolist()}; use the truth of the course the data came from"
        )
    merged["decided_by"] = merged["decided_by"].fillna("")
    return merged


def decider_ranking(model: DSRSDNet, encoded: Encoded, truth: pd.DataFrame) -> pd.DataFrame:
    """Rank modalities by |Shapley value| for every learner whose outcome one modality decides.

    Returns one row per such learner: keys, `decided_by`, `ranked_first` and the Shapley value of
    each modality.
    """
    truth = align_truth(encoded, truth)
    rows = np.flatnonzero(truth["decided_by"].isin(encoded.modalities).to_numpy())
    values = np.concatenate([
        modality_shapley(model, encoded, rows[start:start + SHAPLEY_BATCH]).values
        for start in range(0, len(rows), SHAPLEY_BATCH)
    ]) if len(rows) else np.zeros((0, len(encoded.modalities)))
    table = truth.loc[rows, REGISTRATION_KEY + ["decided_by"]].reset_index(drop=True)
    table["ranked_first"] = np.array(encoded.modalities)[np.abs(values).argmax(axis=1)] if len(rows) else []
    for index, modality in enumerate(encoded.modalities):
        table[f"shapley_{modality}"] = values[:, index]
    return table


def ranking_rates(ranking: pd.DataFrame) -> pd.Series:
    """Return the share of learners whose deciding modality is ranked first, per group and overall."""
    hits = ranking["ranked_first"] == ranking["decided_by"]
    rates = hits.groupby(ranking["decided_by"]).mean()
    rates["all"] = hits.mean()
    return rates


def probe_from_codes(codes: np.ndarray, target: np.ndarray) -> float:
    """Return the 5-fold cross-validated R² of a ridge regression from standardised codes to one factor."""
    probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return float(np.mean(cross_val_score(probe, codes, target, cv=5, scoring="r2")))


def probe_r2(model: DSRSDNet, encoded: Encoded, truth: pd.DataFrame) -> pd.DataFrame:
    """Fit linear probes for every planted factor, from the shared and from the private codes.

    Rows are factors. Columns are `shared` (every modality's shared code, concatenated), `private`
    (every private code, concatenated), and `own_shared` and `own_private` (the codes of the factor's
    own modality). The `own_*` columns are NaN for the shared factor, which shows in every modality.
    """
    truth = align_truth(encoded, truth)
    output = predict(model, encoded, keep_codes=True)
    shared = np.concatenate([output.shared[m] for m in encoded.modalities], axis=1)
    private = np.concatenate([output.private[m] for m in encoded.modalities], axis=1)
    owner = {factor: modality for modality, factor in PRIVATE_FACTOR.items()}
    rows = []
    for factor in FACTORS:
        target = truth[factor].to_numpy(np.float64)
        row = {"factor": factor, "shared": probe_from_codes(shared, target), "private": probe_from_codes(private, target),
               "own_shared": float("nan"), "own_private": float("nan")}
        if factor in owner:
            row["own_shared"] = probe_from_codes(output.shared[owner[factor]], target)
            row["own_private"] = probe_from_codes(output.private[owner[factor]], target)
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor")


def separation_margins(probes: pd.DataFrame) -> pd.Series:
    """Return, per factor, how much better its own stream reads it than the other stream (R² difference).

    For the shared factor this is `shared - private`, and for a private factor `own_private - own_shared`.
    `probes` is the table of `probe_r2`.
    """
    margins = {}
    for factor in FACTORS:
        if factor in PRIVATE_FACTOR.values():
            margins[factor] = probes.loc[factor, "own_private"] - probes.loc[factor, "own_shared"]
        else:
            margins[factor] = probes.loc[factor, "shared"] - probes.loc[factor, "private"]
    return pd.Series(margins, name="margin")


def knockout_shifts(model: DSRSDNet, encoded: Encoded, truth: pd.DataFrame) -> pd.DataFrame:
    """Return the mean |change| of the at-risk probability when each modality is knocked out, per group.

    Rows are the groups (`decided_by`, "" for the mixed learners); columns are the knocked-out modalities.
    """
    truth = align_truth(encoded, truth)
    clean = at_risk_probability(predict(model, encoded).probabilities)
    shifts = {}
    for modality in encoded.modalities:
        knocked = at_risk_probability(predict(model, encoded, Perturbation(knockout=(modality,))).probabilities)
        shifts[modality] = pd.Series(np.abs(knocked - clean)).groupby(truth["decided_by"].to_numpy()).mean()
    frame = pd.DataFrame(shifts)
    frame.index.name = "decided_by"
    return frame
