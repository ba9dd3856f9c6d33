"""Cached truth checks of a synthetic-course checkpoint for the "Does it explain the truth?" page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dsrsd import truth
from dsrsd.app import state
from dsrsd.data.synthetic import synthetic_course


def _test_learners(checkpoint_path: str, device: str, data_dir: str):
    cohorts = state.cached_cohorts(checkpoint_path, device, data_dir)
    checkpoint = state.cached_checkpoint(checkpoint_path, device)
    encoded = cohorts.encoded.subset(np.flatnonzero(cohorts.split == "test"))
    settings = checkpoint.config["data"].get("synthetic", {})
    course = synthetic_course(settings.get("seed", 0), settings.get("learners", 4000))
    return checkpoint.model, encoded, course.truth


@st.cache_data(show_spinner="Ranking modalities by Shapley value...")
def cached_ranking(checkpoint_path: str, device: str, data_dir: str) -> pd.DataFrame:
    return truth.decider_ranking(*_test_learners(checkpoint_path, device, data_dir))


@st.cache_data(show_spinner="Fitting linear probes...")
def cached_probes(checkpoint_path: str, device: str, data_dir: str) -> pd.DataFrame:
    return truth.probe_r2(*_test_learners(checkpoint_path, device, data_dir))


@st.cache_data(show_spinner=False)
def cached_knockout_shifts(checkpoint_path: str, device: str, data_dir: str) -> pd.DataFrame:
    return truth.knockout_shifts(*_test_learners(checkpoint_path, device, data_dir))
