"""Plotly figures for the pages; each takes plain arrays or frames and returns a figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from dsrsd.app.sidebar import MODALITY_LABELS

OUTCOME_COLOURS = {"Distinction": "#1f4e99", "Pass": "#6baed6", "Fail": "#ff9f1c", "Withdrawn": "#d62728"}
RISK_BANDS = [(0.6, "High", "#d62728"), (0.3, "Medium", "#ff9f1c"), (0.0, "Low", "#2ca02c")]


def risk_band(probability: float) -> str:
    """Traffic-light band of an at-risk probability: High >= 0.6, Medium >= 0.3, else Low."""
    for threshold, name, _ in RISK_BANDS:
        if probability >= threshold:
            return name
    return "Low"


def band_colour(band: str) -> str:
    return {name: colour for _, name, colour in RISK_BANDS}[band]


def labelled(modalities: list[str]) -> list[str]:
    return [MODALITY_LABELS.get(m, m) for m in modalities]


def bar(values: np.ndarray, names: list[str], title: str, value_format: str = ".2f", colours=None,
        value_range: list[float] | None = None) -> go.Figure:
    values = np.asarray(values, dtype=float)
    low, high = min(0.0, float(values.min(initial=0.0))), max(0.0, float(values.max(initial=0.0)))
    span = (high - low) or 1.0
    # Room beyond each bar end, so outside labels of negative bars do not overlap the category names.
    value_range = value_range or [low - 0.3 * span if low < 0 else 0.0, high + 0.3 * span]
    figure = go.Figure(go.Bar(x=list(values), y=names, orientation="h", marker_color=colours,
                              texttemplate=f"%{{x:{value_format}}}", textposition="outside", cliponaxis=False))
    figure.update_layout(title=title, height=80 + 40 * len(names), margin=dict(l=10, r=60, t=40, b=10),
                         yaxis=dict(autorange="reversed"), xaxis=dict(range=value_range))
    return figure


def signed_bar(values: np.ndarray, names: list[str], title: str) -> go.Figure:
    """Bar chart of contributions to a probability, drawn in percentage points (red raises, blue lowers)."""
    points = np.asarray(values, dtype=float) * 100
    points[np.abs(points) < 0.005] = 0.0   # shows "+0.00", not "-0.00", for float noise around zero
    colours = ["#d62728" if value > 0 else "#1f77b4" for value in points]
    return bar(points, names, title, "+.2f", colours)


MODALITY_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "star", "cross"]
MODALITY_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
MAX_ARROWS = 600      # arrows are SVG, so each map draws at most this many
MAX_LINKED = 60       # learners whose modalities are joined by lines; more become an unreadable tangle


def hover_text(points: pd.DataFrame) -> list[str]:
    """Return the hover line of each map point: student, modality, outcome, at-risk and missing modalities."""
    if "hover" in points:   # computed once per cohort by the page
        return list(points["hover"])
    missing = points["no_data_in"].fillna("")
    return [f"student {s} · {m}<br>{o} · at-risk {r:.2f}" + (f"<br>no record in {n.lower()}" if n else "")
            for s, m, o, r, n in zip(points["id_student"], points["modality"], points["recorded_outcome"],
                                     points["at_risk"], missing)]


def _segments(start: pd.DataFrame, end: pd.DataFrame) -> tuple[list, list]:
    """x and y lists that draw one segment per row pair, separated by None."""
    xs, ys = [], []
    for x0, y0, x1, y1 in zip(start["x"], start["y"], end["x"], end["y"]):
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    return xs, ys


def stream_map(points: pd.DataFrame, colour: str, title: str, modalities: list[str], selected: frozenset = frozenset(),
               moved: pd.DataFrame | None = None, link_selected: bool = False) -> go.Figure:
    """Draw one stream's map.

    Args:
        points: one row per code: learner, modality (label), x, y, id_student, recorded_outcome, at_risk,
            code_module, no_data_in.
        colour: column to colour by ("recorded_outcome", "code_module", "at_risk" or "modality").
        modalities: modality labels in model order, for symbols and colours.
        selected: learners to highlight; the others are dimmed.
        moved: perturbed positions (learner, modality, x, y) drawn as arrows from the clean positions.
        link_selected: join each selected learner's codes across modalities with a line.
    """
    symbols = {m: MODALITY_SYMBOLS[i % len(MODALITY_SYMBOLS)] for i, m in enumerate(modalities)}
    dim = bool(selected) or (moved is not None and len(moved) > 0)
    opacity = 0.25 if dim else 0.8
    figure = go.Figure()
    if colour == "at_risk":
        figure.add_trace(go.Scattergl(
            x=points["x"], y=points["y"], mode="markers", name="learners", customdata=points["learner"],
            hovertext=hover_text(points), hoverinfo="text", showlegend=False,
            marker=dict(size=6, opacity=opacity, color=points["at_risk"], colorscale="RdYlGn_r", cmin=0, cmax=1,
                        symbol=points["modality"].map(symbols), colorbar=dict(title="At-risk", thickness=12)),
        ))
    else:
        if colour == "modality":
            palette = {m: MODALITY_COLOURS[i % len(MODALITY_COLOURS)] for i, m in enumerate(modalities)}
        elif colour == "recorded_outcome":
            palette = OUTCOME_COLOURS
        else:
            values = sorted(points[colour].unique())
            palette = {v: qualitative.Safe[i % len(qualitative.Safe)] for i, v in enumerate(values)}
        for value, group in points.groupby(colour, sort=False):
            figure.add_trace(go.Scattergl(
                x=group["x"], y=group["y"], mode="markers", name=str(value), customdata=group["learner"],
                hovertext=hover_text(group), hoverinfo="text",
                marker=dict(size=6, opacity=opacity, color=palette.get(value, "#888888"),
                            symbol=group["modality"].map(symbols)),
            ))
    chosen = points[points["learner"].isin(selected)] if selected else points.iloc[:0]
    if link_selected and len(chosen):
        linked = chosen[chosen["learner"].isin(sorted(selected)[:MAX_LINKED])].sort_values(["learner", "modality"])
        xs, ys = [], []
        for _, group in linked.groupby("learner"):
            xs += list(group["x"]) + [None]
            ys += list(group["y"]) + [None]
        figure.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name="same learner", hoverinfo="skip",
                                      line=dict(color="rgba(40,40,40,0.55)", width=1)))
    if len(chosen):
        figure.add_trace(go.Scattergl(
            x=chosen["x"], y=chosen["y"], mode="markers", name="selected", customdata=chosen["learner"],
            hovertext=hover_text(chosen), hoverinfo="text",
            # Open symbols take their outline colour from marker.color in WebGL traces.
            marker=dict(size=11, color="black", line=dict(color="black", width=1.5),
                        symbol=[f"{symbols[m]}-open" for m in chosen["modality"]]),
        ))
    if moved is not None and len(moved):
        pairs = points.merge(moved, on=["learner", "modality"], suffixes=("", "_moved"))
        if selected:
            pairs = pairs[pairs["learner"].isin(selected)]
        pairs = pairs.head(MAX_ARROWS)
        xs, ys = _segments(pairs[["x", "y"]], pairs[["x_moved", "y_moved"]].set_axis(["x", "y"], axis=1))
        figure.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name="what-if move", hoverinfo="skip",
            line=dict(color="rgba(0,0,0,0.45)", width=1),
            marker=dict(symbol="arrow", angleref="previous", size=[0, 9, 0] * len(pairs), color="black"),
        ))
    figure.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10), legend_title_text="",
                         legend=dict(orientation="h", yanchor="top", y=-0.02), dragmode="lasso",
                         modebar=dict(orientation="v"))   # a horizontal toolbar covers the title in a half-width column
    figure.update_xaxes(showticklabels=False, title="")
    figure.update_yaxes(showticklabels=False, title="")
    return figure


def heatmap(matrix: np.ndarray, title: str, x_title: str, y_title: str, symmetric_scale: bool = True) -> go.Figure:
    limit = float(np.abs(matrix).max()) or 1.0
    figure = go.Figure(go.Heatmap(z=matrix, colorscale="RdBu_r", zmin=-limit if symmetric_scale else None,
                                  zmax=limit if symmetric_scale else None))
    figure.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10),
                         xaxis_title=x_title, yaxis_title=y_title, yaxis=dict(autorange="reversed"))
    return figure


def gate_distribution(clean: np.ndarray, perturbed: np.ndarray | None, available: np.ndarray, names: list[str]) -> go.Figure:
    """Box plots of each modality's fusion gate over the learners that truly have it, clean and under a what-if."""
    figure = go.Figure()
    for label, gates, colour in (("clean", clean, "#1f77b4"), ("what-if", perturbed, "#ff7f0e")):
        if gates is None:
            continue
        xs, ys = [], []
        for index, name in enumerate(names):
            values = gates[available[:, index], index]
            xs += [name] * len(values)
            ys += list(values)
        figure.add_trace(go.Box(x=xs, y=ys, name=label, marker_color=colour, boxmean=True))
    figure.update_layout(title="Fusion gate per modality over the cohort", boxmode="group", height=420,
                         margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(range=[-0.02, 1.02], title="gate weight"))
    return figure


def grouped_bar(series: dict[str, np.ndarray], names: list[str], title: str) -> go.Figure:
    """Horizontal bars of several series over the same names, such as a learner's gates clean and under a what-if."""
    figure = go.Figure()
    for label, values in series.items():
        figure.add_trace(go.Bar(x=list(np.asarray(values, dtype=float)), y=names, orientation="h", name=label,
                                texttemplate="%{x:.2f}", textposition="outside", cliponaxis=False))
    figure.update_layout(title=title, barmode="group", height=120 + 50 * len(names), margin=dict(l=10, r=60, t=40, b=10),
                         yaxis=dict(autorange="reversed"), xaxis=dict(range=[0, 1.15]))
    return figure
