"""Robustness sweeps on a tiny synthetic set whose outcome depends on the assessments alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import make_toy_raw
from dsrsd.config import GBDTConfig, LossConfig, ModelConfig, TrainConfig
from dsrsd.data import OuladEncoder
from dsrsd.data.oulad import ASSESSMENT_FEATURES
from dsrsd.model.gbdt import fit_gbdt
from dsrsd.robustness import knockout_retention, knockout_subsets, robustness_sweep, sweep_perturbations
from dsrsd.training import train_model

MODALITIES = ["profile", "assessments", "engagement"]


def assessment_labelled(seed: int):
    """Synthetic registrations that are at risk (Withdrawn) exactly when their summed score is negative."""
    raw = make_toy_raw(rows=600, seed=seed)
    score = ASSESSMENT_FEATURES.index("score")
    total = (raw.assessments[..., score] * raw.assessment_mask).sum(axis=1)
    # Every learner has assessment data, so the modality's presence bit carries no label information.
    return dataclasses.replace(raw, labels=np.where(total < 0, 3, 1), present=raw.present | np.array([False, True, False]))


@pytest.fixture(scope="module")
def informative_assessments():
    """Return (encoder, train, test): two independent synthetic sets, encoded with the training fit."""
    train, test = assessment_labelled(3), assessment_labelled(4)
    encoder = OuladEncoder.fit(train)
    return encoder, encoder.transform(train), encoder.transform(test)


def test_subsets_are_non_empty_proper():
    subsets = knockout_subsets(MODALITIES)
    assert len(subsets) == 6
    assert () not in subsets
    assert tuple(MODALITIES) not in subsets
    perturbations = sweep_perturbations(MODALITIES, [0.5, 1.0])
    assert len(perturbations) == 1 + 6 + 3 * 2


def test_invalid_noise_level_rejected():
    with pytest.raises(ValueError, match="invalid noise level -1"):
        sweep_perturbations(MODALITIES, [-1.0])


def test_single_model_knocked_out_gives_chance(informative_assessments):
    encoder, train, encoded = informative_assessments
    result = train_model(train, train, encoder.state["kinds"], ModelConfig(hidden_size=16), LossConfig(),
                         TrainConfig(epochs=15, batch_size=64, modality_dropout=0.0, patience=15),
                         torch.device("cpu"), architecture="single:assessments")
    rows = {row["knocked_out"]: row for row in robustness_sweep(result.model, encoded, [1.0])
            if row["perturbation"] in ("none", "knockout")}
    assert rows[""]["at_risk_auc"] > 0.9
    assert rows["assessments"]["at_risk_auc"] == 0.5
    assert rows["profile+engagement"]["at_risk_auc"] == rows[""]["at_risk_auc"]
    assert rows["assessments"]["at_risk_auc_retention"] == pytest.approx(0.5 / rows[""]["at_risk_auc"])


def test_gbdt_knocked_out_falls_to_chance(informative_assessments):
    _, train, encoded = informative_assessments
    fitted = fit_gbdt(train, train, GBDTConfig(max_iter=30, min_samples_leaf=5))
    rows = robustness_sweep(fitted.model, encoded, [0.5, 3.0])
    by_name = {(row["perturbation"], row["knocked_out"], row["noise_modality"], row["noise_std"]): row for row in rows}
    clean = by_name[("none", "", "", 0.0)]["at_risk_auc"]
    assert clean > 0.95
    assert by_name[("knockout", "assessments", "", 0.0)]["at_risk_auc"] == pytest.approx(0.5, abs=0.05)
    assert by_name[("knockout", "profile", "", 0.0)]["at_risk_auc"] > 0.9
    # Heavier noise on the informative modality costs more than lighter noise.
    light = by_name[("noise", "", "assessments", 0.5)]["at_risk_auc"]
    heavy = by_name[("noise", "", "assessments", 3.0)]["at_risk_auc"]
    assert heavy < light <= clean + 1e-9
    retention = knockout_retention(rows, MODALITIES)
    singles = [by_name[("knockout", m, "", 0.0)]["at_risk_auc"] / clean for m in MODALITIES]
    assert retention == pytest.approx(np.mean(singles))
