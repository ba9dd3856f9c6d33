"""Cache built OULAD arrays on disk, keyed on the source files' hashes and the build settings.

Files are `.npz` archives read with `allow_pickle=False`, written to a temporary name and renamed,
so a failed or interrupted build never leaves a half-written cache entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from dsrsd.data.engagement import EngagementArrays
from dsrsd.data.oulad import ASSESSMENT_FEATURES, PROFILE_CATEGORICAL, OuladRaw

log = logging.getLogger(__name__)

# Bump when the build changes what it produces, so old cache entries are not reused.
BUILD_VERSION = 2
REGISTRATION_COLUMNS = ["code_module", "code_presentation", "id_student"]


def cache_key(file_hashes: dict[str, str], cutoff: str | int) -> str:
    payload = json.dumps({"files": file_hashes, "cutoff": cutoff, "build": BUILD_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def save_raw(raw: OuladRaw, path: Path) -> None:
    arrays = {
        "keys_module": raw.keys["code_module"].to_numpy(str),
        "keys_presentation": raw.keys["code_presentation"].to_numpy(str),
        "keys_student": raw.keys["id_student"].to_numpy(np.int64),
        "labels": raw.labels,
        "profile_numeric": raw.profile_numeric,
        "assessments": raw.assessments,
        "assessment_mask": raw.assessment_mask,
        "engagement_values": raw.engagement.values,
        "engagement_present": raw.engagement.present,
        "present": raw.present,
    }
    for column in PROFILE_CATEGORICAL:
        arrays[f"profile_{column}"] = raw.profile_categorical[column].fillna("").to_numpy(str)
    if raw.engagement.mask is not None:
        arrays["engagement_mask"] = raw.engagement.mask
    # Next-step rows carry whole-number key columns beyond the registration (id_assessment, ...).
    extra_keys = [column for column in raw.keys.columns if column not in REGISTRATION_COLUMNS]
    for column in extra_keys:
        arrays[f"keys_extra_{column}"] = raw.keys[column].to_numpy(np.int64)
    meta = {"cutoff": raw.cutoff, "engagement_form": raw.engagement.form,
            "engagement_columns": raw.engagement.feature_names, "extra_keys": extra_keys,
            "assessment_features": list(raw.assessment_features)}
    arrays["meta"] = np.array(json.dumps(meta))

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_raw(path: Path) -> OuladRaw:
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
        # dtype=object gives the dtypes of a fresh build. Without it pandas 3 infers its string dtype.
        keys = pd.DataFrame({
            "code_module": pd.Series(archive["keys_module"], dtype=object),
            "code_presentation": pd.Series(archive["keys_presentation"], dtype=object),
            "id_student": archive["keys_student"],
            **{column: archive[f"keys_extra_{column}"] for column in meta.get("extra_keys", [])},
        })
        categorical = pd.DataFrame({
            column: pd.Series(archive[f"profile_{column}"], dtype=object).replace("", None)
            for column in PROFILE_CATEGORICAL
        })
        engagement = EngagementArrays(
            form=meta["engagement_form"],
            values=archive["engagement_values"],
            mask=archive["engagement_mask"] if "engagement_mask" in archive.files else None,
            feature_names=meta["engagement_columns"],
            present=archive["engagement_present"],
        )
        return OuladRaw(
            keys=keys, labels=archive["labels"], profile_categorical=categorical,
            profile_numeric=archive["profile_numeric"], assessments=archive["assessments"],
            assessment_mask=archive["assessment_mask"], engagement=engagement, present=archive["present"],
            cutoff=meta["cutoff"], assessment_features=meta.get("assessment_features", list(ASSESSMENT_FEATURES)),
        )
