"""Does it explain the truth? Attributions, codes and knockouts checked against the planted factors."""

import streamlit as st

from dsrsd import datasets, truth
from dsrsd.app import state
from dsrsd.app.context import model_ui, synthetic_banner
from dsrsd.app.sidebar import MODALITY_LABELS
from dsrsd.app.truth import cached_knockout_shifts, cached_probes, cached_ranking
from dsrsd.data.synthetic import OUTCOME_WEIGHTS

st.title("Does it explain the truth?")

picked = model_ui(what_if=False)
if picked is None:
    st.stop()
selection, checkpoint = picked
if datasets.dataset_of(checkpoint.config) != "synthetic":
    st.info(f"This page needs a checkpoint trained on the synthetic course, such as `{datasets.DEMO_CHECKPOINT}`, "
            "because only there is the truth known. Pick one in the sidebar.")
    st.stop()
synthetic_banner(checkpoint)
data_dir = state.checkpoint_data_dir(checkpoint)
arguments = (selection.checkpoint, selection.device, data_dir)


def label(modality: str) -> str:
    return MODALITY_LABELS.get(modality, modality) if modality else "Mixed (no single modality decides)"


weights = " + ".join(f"{weight:g} x {name}" for weight, name in zip(OUTCOME_WEIGHTS, ["motivation", "prior", "skill", "habit"]))
st.markdown(
    "The synthetic course was generated with four planted factors per learner. **Motivation** is shared: "
    "it shows in every modality (earlier registration, earlier submissions, higher scores, more clicks). "
    "**Prior** shows only in the profile, **skill** only in the scores, and **habit** only in the share of "
    f"forum clicks. A learner fails when {weights} + noise < 0. In three groups of learners only one "
    "modality's factor is nonzero, so that modality alone decides the outcome. Every number below is "
    "computed on the held-out test presentation (2014J)."
)

st.subheader("1. Does the attribution name the deciding modality?")
ranking = cached_ranking(*arguments)
hits = ranking["ranked_first"] == ranking["decided_by"]
st.metric("Learners whose deciding modality has the largest |Shapley value|", f"{hits.mean():.1%}",
          help="The proof test asserts at least 90%.")
rates = hits.groupby(ranking["decided_by"]).agg(["mean", "size"]).reset_index()
rates["decided_by"] = rates["decided_by"].map(label)
st.dataframe(rates.rename(columns={"decided_by": "deciding modality", "mean": "ranked first", "size": "learners"}),
             hide_index=True, column_config={"ranked first": st.column_config.NumberColumn(format="percent")})

st.subheader("2. Do the codes hold the factors where they belong?")
probes = cached_probes(*arguments)
st.markdown(
    "Cross-validated R² of a linear (ridge) probe from the codes to each factor. `shared` and `private` "
    "concatenate the codes of every modality; `own` reads only the factor's own modality."
)
st.dataframe(probes.reset_index(), hide_index=True,
             column_config={name: st.column_config.NumberColumn(format="%.3f") for name in probes.columns})
margins = truth.separation_margins(probes)
if (margins >= truth.SEPARATION_MARGIN).all():
    st.caption(
        f"The streams separate the factors: the shared codes read motivation, and each private code its own "
        f"factor, better than the other stream does by at least {truth.SEPARATION_MARGIN} R² "
        f"(smallest margin {margins.min():.3f})."
    )
else:
    st.caption(
        "Each private code is the encoding minus the shared code, and the shared code is a linear map of the "
        "encoding. Both streams are then linear maps of one encoding, and a linear probe can find a factor in "
        f"either. This checkpoint does not separate the factors by {truth.SEPARATION_MARGIN} R² (smallest margin "
        f"{margins.min():.3f}). Training with `--shared-split projection` and `--cross-private-weight` can "
        "separate them (see docs/BENCHMARKS.md)."
    )

st.subheader("3. Does knocking out an uninformative modality leave predictions alone?")
shifts = cached_knockout_shifts(*arguments)
shifts.index = [label(name) for name in shifts.index]
shifts.columns = [f"{label(name)} knocked out" for name in shifts.columns]
st.markdown(
    "Mean absolute change of the at-risk probability when one modality is knocked out, per group. For a "
    "group decided by one modality, the other two carry no information on the outcome."
)
st.dataframe(shifts.reset_index(names="group"), hide_index=True,
             column_config={name: st.column_config.NumberColumn(format="%.3f") for name in shifts.columns})
