"""Model kinds by name: the `--model` choices of the train CLI and the `architecture` of a checkpoint."""

from __future__ import annotations

from torch import nn

from dsrsd.config import ModelConfig
from dsrsd.model.baselines import CoAttentionNet, EarlyFusionNet, LateFusionNet, SingleModalityNet
from dsrsd.model.dsrsd_net import DSRSDNet

GBDT = "gbdt"
# CLI name -> checkpoint architecture; `single:MODALITY` keeps its name in both.
MODEL_ARCHITECTURES = {
    "dsrsd": "dsrsd-net", "early": "early-fusion", "late": "late-fusion", "coattention": "co-attention", "gbdt": GBDT,
}
SINGLE_PREFIX = "single:"


def architecture_for(model: str, modalities: list[str] | None) -> str:
    """Map a `--model` value to its checkpoint architecture, rejecting unknown names.

    The modality of `single:MODALITY` is checked against `modalities` unless that is None.
    """
    if model.startswith(SINGLE_PREFIX):
        modality = model[len(SINGLE_PREFIX):]
        if not modality:
            raise ValueError(f"invalid --model {model!r}: name the modality, e.g. single:assessments")
        if modalities is not None and modality not in modalities:
            raise ValueError(f"invalid --model {model!r}: the modality must be one of {modalities}, e.g. single:{modalities[0]}")
        return model
    if model not in MODEL_ARCHITECTURES:
        choices = ", ".join(list(MODEL_ARCHITECTURES) + ["single:MODALITY"])
        raise ValueError(f"invalid --model {model!r}: use one of {choices}")
    return MODEL_ARCHITECTURES[model]


def is_known_architecture(architecture: str) -> bool:
    return architecture in MODEL_ARCHITECTURES.values() or architecture.startswith(SINGLE_PREFIX)


def build_model(architecture: str, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str],
                steps: dict[str, int], config: ModelConfig) -> nn.Module:
    """Build the neural network of `architecture` with freshly initialised weights.

    `steps` gives the padded length T of each sequence modality, which early fusion flattens.
    """
    if architecture == "dsrsd-net":
        return DSRSDNet(modalities, input_sizes, kinds, config)
    if architecture.startswith(SINGLE_PREFIX):
        return SingleModalityNet(modalities, input_sizes, kinds, config, architecture[len(SINGLE_PREFIX):])
    if architecture == "early-fusion":
        return EarlyFusionNet(modalities, input_sizes, kinds, config, steps)
    if architecture == "late-fusion":
        return LateFusionNet(modalities, input_sizes, kinds, config)
    if architecture == "co-attention":
        return CoAttentionNet(modalities, input_sizes, kinds, config)
    raise ValueError(f"architecture {architecture!r} is not a neural network; known: dsrsd-net, single:MODALITY, "
                     "early-fusion, late-fusion, co-attention")
