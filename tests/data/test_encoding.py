"""Encoding raw arrays into model inputs with statistics fitted on training rows only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dsrsd.data import DataError, OuladEncoder, default_split
from dsrsd.data.oulad import PROFILE_CATEGORICAL, PROFILE_NUMERIC


@pytest.fixture(scope="module")
def toy_encoder(toy_raw) -> OuladEncoder:
    return OuladEncoder.fit(toy_raw)


@pytest.fixture(scope="module")
def train_end(raw_end):
    return raw_end.subset(default_split(raw_end.keys) == "train")


def block_columns(encoder: OuladEncoder, column: str) -> list[int]:
    """Return the positions of the one-hot block of profile column `column`."""
    names = encoder.state["feature_names"]["profile"]
    return [index for index, name in enumerate(names) if name.startswith(f"{column}=")]


def test_input_sizes_match_inputs(toy_raw, toy_encoder):
    encoded = toy_encoder.transform(toy_raw)
    assert encoded.modalities == ["profile", "assessments", "engagement"]
    for modality, size in toy_encoder.input_sizes().items():
        assert encoded.inputs[modality].shape[-1] == size
    assert encoded.inputs["assessments"].shape[:2] == toy_raw.assessment_mask.shape
    assert encoded.inputs["engagement"].shape[:2] == toy_raw.engagement.mask.shape
    assert toy_encoder.state["kinds"] == {"profile": "static", "assessments": "sequence", "engagement": "sequence"}


def test_one_hot_profile(toy_raw, toy_encoder):
    profile = toy_encoder.transform(toy_raw).inputs["profile"]
    for column in PROFILE_CATEGORICAL:
        block = profile[:, block_columns(toy_encoder, column)]
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
    # A missing imd_band is a category of its own.
    assert "imd_band=(missing)" in toy_encoder.state["feature_names"]["profile"]


def test_numeric_standardised(toy_raw, toy_encoder):
    profile = toy_encoder.transform(toy_raw).inputs["profile"]
    width = len(PROFILE_NUMERIC)
    scaled, missing = profile[:, -2 * width:-width], profile[:, -width:]
    np.testing.assert_array_equal(missing, np.isnan(toy_raw.profile_numeric))
    for column in range(width):
        known = missing[:, column] == 0
        assert scaled[known, column].mean() == pytest.approx(0.0, abs=1e-5)
        assert scaled[known, column].std() == pytest.approx(1.0, abs=1e-5)
        assert (scaled[~known, column] == 0).all()


def test_padding_steps_zero(toy_raw, toy_encoder):
    encoded = toy_encoder.transform(toy_raw)
    for modality in ["assessments", "engagement"]:
        mask = encoded.masks[modality]
        assert (~mask).any()
        assert (encoded.inputs[modality][~mask] == 0).all()


def test_clicks_log_scaled(toy_raw, toy_encoder):
    engagement = toy_encoder.transform(toy_raw).inputs["engagement"]
    real = engagement[toy_raw.engagement.mask]
    np.testing.assert_allclose(real.mean(axis=0), 0.0, atol=1e-5)
    expected = (np.log1p(toy_raw.engagement.values[0, 0]) - toy_encoder.state["engagement_log"]["mean"]) \
        / toy_encoder.state["engagement_log"]["std"]
    np.testing.assert_allclose(engagement[0, 0], expected, rtol=1e-5)


def test_state_json_round_trip(toy_raw, toy_encoder):
    restored = OuladEncoder(json.loads(json.dumps(toy_encoder.state)))
    first, second = toy_encoder.transform(toy_raw), restored.transform(toy_raw)
    for modality in first.modalities:
        np.testing.assert_array_equal(first.inputs[modality], second.inputs[modality])


def test_unknown_category_warns(toy_raw, toy_encoder):
    raw = toy_raw.subset(np.arange(10))
    raw.profile_categorical.loc[[1, 4, 7], "gender"] = "X"
    with pytest.warns(UserWarning, match=r"studentInfo: column gender has 3 row\(s\) with categories unseen in "
                                         r"training \['X'\]"):
        profile = toy_encoder.transform(raw).inputs["profile"]
    block = profile[:, block_columns(toy_encoder, "gender")]
    np.testing.assert_array_equal(block.sum(axis=1), [1, 0, 1, 1, 0, 1, 1, 0, 1, 1])


def test_fewer_steps_padded(toy_raw, toy_encoder):
    raw = toy_raw.subset(np.arange(10))
    raw.assessments = raw.assessments[:, :3]
    raw.assessment_mask = raw.assessment_mask[:, :3]
    encoded = toy_encoder.transform(raw)
    assert encoded.inputs["assessments"].shape[1] == 4
    assert not encoded.masks["assessments"][:, 3].any()


def test_more_steps_rejected(toy_raw, toy_encoder):
    raw = toy_raw.subset(np.arange(10))
    raw.assessments = np.concatenate([raw.assessments, raw.assessments[:, :1]], axis=1)
    raw.assessment_mask = np.concatenate([raw.assessment_mask, raw.assessment_mask[:, :1]], axis=1)
    with pytest.raises(DataError, match="has 5 non-exam assessments, more than the 4"):
        toy_encoder.transform(raw)


def test_fit_uses_given_rows(raw_end, train_end):
    encoder = OuladEncoder.fit(train_end)
    np.testing.assert_allclose(encoder.state["profile_numeric"]["mean"],
                               np.nanmean(train_end.profile_numeric, axis=0))
    everyone = OuladEncoder.fit(raw_end)
    assert encoder.state["profile_numeric"]["mean"] != everyone.state["profile_numeric"]["mean"]


def test_real_unknown_module_warns(raw_end, train_end):
    # The training presentations cover every module, so drop one from the fit to make it unseen.
    encoder = OuladEncoder.fit(train_end.subset((train_end.keys["code_module"] != "AAA").to_numpy()))
    test = raw_end.subset((raw_end.keys["code_presentation"] == "2014J").to_numpy())
    with pytest.warns(UserWarning, match=r"column code_module has 365 row\(s\) with categories unseen in training"):
        encoder.transform(test)


def test_form_mismatch_rejected(train_end, raw_day60):
    encoder = OuladEncoder.fit(train_end)
    with pytest.raises(DataError, match="trained on engagement form 'course_totals' but the data folder gives "
                                        "'precourse_clicks'"):
        encoder.transform(raw_day60)
