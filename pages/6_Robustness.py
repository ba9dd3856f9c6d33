"""Robustness: how each shipped model holds up when modalities are missing or noisy."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from dsrsd.app import compare, state
from dsrsd.app.sidebar import device_options, resolved_device

st.title("Robustness")
st.markdown(
    "Test at-risk AUC of DSRSD-Net and the baselines when modalities are knocked out (the modality and its "
    "presence bit hidden) or get Gaussian noise in normalised units. The stored results come from the benchmark "
    "grid (`python -m dsrsd.benchmark --config benchmarks/oulad.toml`), averaged over seeds; the live sweep runs "
    "the shipped checkpoints on a cohort you choose."
)


def models_ui(models: dict[str, str]) -> list[str]:
    names = st.multiselect("Models (shipped checkpoints)", list(models), default=list(models), key="robustness.models")
    return [models[name] for name in names]


def stored_ui(paths: list[str], device: str) -> None:
    results = compare.stored_results()
    if results is None:
        st.info(f"No stored results in `{compare.RESULTS_CSV}`. Run `python -m dsrsd.benchmark --config "
                "benchmarks/oulad.toml` to write them.")
        return
    names = [compare.results_name(Path(p).name, compare.cached_model(p, device).architecture) for p in paths]
    cutoffs = list(dict.fromkeys(results.loc[results["group"] == "main", "cutoff"]))
    cutoff = st.selectbox("Cutoff of the stored results", cutoffs, key="robustness.cutoff")
    matrix = compare.missing_modality_matrix(results, names, cutoff)
    if matrix.empty:
        st.info(f"The stored results have no run of {', '.join(names)} at cutoff {cutoff}.")
        return
    st.subheader("Missing modalities: test at-risk AUC by the modalities present")
    heatmap = px.imshow(matrix, text_auto=".3f", zmin=0.5, zmax=1.0, color_continuous_scale="Viridis", aspect="auto",
                        labels={"x": "model", "y": "modalities present", "color": "AUC"})
    st.plotly_chart(heatmap.update_layout(height=380), key="robustness.matrix_chart")
    st.dataframe(matrix, key="robustness.matrix")
    curves = compare.noise_curves(results, names, cutoff)
    figure = px.line(curves, x="noise_std", y="at_risk_auc", color="name", facet_col="noise_modality", markers=True,
                     labels={"noise_std": "noise std (normalised units)", "at_risk_auc": "test at-risk AUC"},
                     title="Noise on one modality at a time")
    st.plotly_chart(figure.update_layout(height=420), key="robustness.noise")


def live_ui(paths: list[str], device: str, data_dir: str) -> None:
    st.subheader("Live sweep on a cohort")
    encoded = compare.cached_encoded(paths[0], device, data_dir)
    courses = sorted((encoded.keys["code_module"] + " " + encoded.keys["code_presentation"]).unique(),
                     key=lambda name: (not name.endswith("2014J"), name))
    left, right = st.columns(2)
    course = left.selectbox("Course", courses, key="robustness.course",
                            help="2014J presentations are the held-out test set; the others were used for training")
    levels = right.multiselect("Noise levels (std)", [0.25, 0.5, 1.0, 2.0, 3.0], default=[0.5, 1.0, 2.0],
                               key="robustness.levels")
    request = (tuple(paths), course, tuple(levels))

    if st.button("Run the sweep", key="robustness.run", disabled=not levels):
        module, presentation = course.split(" ")
        keys = encoded.keys[(encoded.keys["code_module"] == module) & (encoded.keys["code_presentation"] == presentation)]
        bar = st.progress(0.0, text="Sweeping...")
        frame = compare.live_sweep(paths, device, data_dir, keys, list(levels),
                                   on_step=lambda done, total: bar.progress(done / total, text=f"Sweeping... {done}/{total}"))
        bar.empty()
        st.session_state["robustness.live"] = (request, frame)

    stored = st.session_state.get("robustness.live")
    if stored is None or stored[0] != request:
        st.caption("Choose a cohort and press the button; each model is evaluated clean, under every knockout "
                   "subset and under each noise level.")
        return

    frame = stored[1]
    st.dataframe(compare.live_matrix(frame), key="robustness.live_matrix")
    noise = frame[frame["perturbation"] == "noise"]
    clean = frame[frame["perturbation"] == "none"]
    curves = pd.concat([noise] + [clean.assign(noise_modality=m) for m in noise["noise_modality"].unique()])
    st.plotly_chart(px.line(curves.sort_values("noise_std"), x="noise_std", y="at_risk_auc", color="model",
                            facet_col="noise_modality", markers=True, title=f"Noise on one modality at a time, {course}"),
                    key="robustness.live_noise")


models = compare.shipped_models()
if not models:
    st.info("No checkpoint is shipped in `checkpoints/`. Train one with `python -m dsrsd.train`.")
    st.stop()
device = resolved_device(st.sidebar.selectbox("Device", device_options(), key="robustness.device"))
paths = models_ui(models)
if not paths:
    st.info("Pick at least one model.")
    st.stop()
stored_ui(paths, device)
message = state.oulad_missing_message()
if message:
    st.info(message)
    st.stop()
live_ui(paths, device, str(state.oulad_dir()))
