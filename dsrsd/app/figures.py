"""Plotly figures for the pages; each takes plain arrays or frames and returns a figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

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


def stream_map(points: pd.DataFrame, moved: pd.DataFrame | None, colour: str, title: str) -> go.Figure:
    """Draw one stream's map, with the perturbed positions in `moved` drawn over the clean ones."""
    figure = px.scatter(points, x="x", y="y", color=colour, symbol="modality", opacity=0.55 if moved is not None else 0.8,
                        hover_data=["id_student", "modality", "recorded_outcome", "at_risk"], render_mode="webgl",
                        color_continuous_scale="RdYlGn_r" if colour == "at_risk" else None,
                        color_discrete_map=OUTCOME_COLOURS if colour == "recorded_outcome" else None)
    if moved is not None and len(moved):
        figure.add_trace(go.Scattergl(
            x=moved["x"], y=moved["y"], mode="markers", name="perturbed",
            marker=dict(symbol="x", size=6, color="black"), text=moved["id_student"].astype(str),
            hovertemplate="perturbed %{text}<extra></extra>",
        ))
    figure.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10), legend_title_text="",
                         legend=dict(orientation="h", yanchor="top", y=-0.02),
                         coloraxis_colorbar=dict(title="At-risk"))
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
