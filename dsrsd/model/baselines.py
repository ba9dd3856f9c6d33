"""Neural baselines that combine the modalities in the usual ways, for comparison with DSRSD-Net.

Letters: B batch, M modalities, T steps, F input features, D hidden width, C classes.

Every baseline takes the same inputs as `DSRSDNet.forward` and treats a modality the same way. A
modality that is not available (truly missing, or knocked out) contributes nothing from its inputs.
The head reads each modality's state: (1, 0) available, (0, 1) truly missing or (0, 0) knocked out.
So a knockout hides both the modality and its presence bit, as in DSRSD-Net.
The output is a `DSRSDOutput` with empty code dicts, because the baselines have no shared and
private streams.
"""

from __future__ import annotations

import torch
from torch import nn

from dsrsd.config import ModelConfig
from dsrsd.model.dsrsd_net import DSRSDOutput
from dsrsd.model.encoders import SequenceEncoder, StaticEncoder

ENCODER_TYPES = {"static": StaticEncoder, "sequence": SequenceEncoder}


def modality_state(present: torch.Tensor, knockout: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (available B x M bool, state B x 2M float): the state columns DSRSD-Net's head reads."""
    if knockout is None:
        knockout = torch.zeros_like(present)
    available = present & ~knockout
    truly_missing = ~present & ~knockout
    return available, torch.cat([available, truly_missing], dim=1).float()


def uniform_gates(available: torch.Tensor) -> torch.Tensor:
    """Equal weight on every available modality, zero elsewhere: B x M."""
    weights = available.float()
    return weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)


def classifier_head(input_size: int, config: ModelConfig) -> nn.Sequential:
    hidden = config.hidden_size
    return nn.Sequential(
        nn.LayerNorm(input_size), nn.Linear(input_size, hidden), nn.GELU(),
        nn.Dropout(config.dropout), nn.Linear(hidden, config.num_classes),
    )


class SingleModalityNet(nn.Module):
    """One modality's encoder and a head. The other modalities are ignored entirely."""

    def __init__(self, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str],
                 config: ModelConfig, modality: str):
        super().__init__()
        if modality not in modalities:
            raise ValueError(f"unknown modality {modality!r} for a single-modality model; use one of {modalities}")
        self.modalities = list(modalities)
        self.modality = modality
        self.config = config
        self.encoder = ENCODER_TYPES[kinds[modality]](input_sizes[modality], config.hidden_size, config.dropout)
        self.head = classifier_head(config.hidden_size + 2, config)

    def forward(self, inputs, masks, present, knockout=None) -> DSRSDOutput:
        available, state = modality_state(present, knockout)
        index = self.modalities.index(self.modality)
        own_state = state[:, [index, len(self.modalities) + index]]                  # B x 2
        encoding = self.encoder(inputs[self.modality], masks.get(self.modality)) * own_state[:, :1]  # B x D
        logits = self.head(torch.cat([encoding, own_state], dim=-1))
        gates = torch.zeros_like(state[:, :len(self.modalities)])
        gates[:, index] = own_state[:, 0]
        return DSRSDOutput(logits, {}, {}, {}, gates, available)


def flatten_modality(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """B x F stays; B x T x F with a B x T mask becomes B x T(F + 1), padding steps zeroed."""
    if values.dim() == 2:
        return values
    weights = mask.to(values.dtype).unsqueeze(-1)                                    # B x T x 1
    return torch.cat([values * weights, weights], dim=-1).flatten(1)                 # B x T(F + 1)


class EarlyFusionNet(nn.Module):
    """Early fusion: every modality's raw inputs, flattened and concatenated, feed one shared network."""

    def __init__(self, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str],
                 config: ModelConfig, steps: dict[str, int]):
        super().__init__()
        self.modalities = list(modalities)
        self.config = config
        hidden = config.hidden_size
        width = sum(input_sizes[m] if kinds[m] == "static" else steps[m] * (input_sizes[m] + 1) for m in self.modalities)
        width += 2 * len(self.modalities)
        self.network = nn.Sequential(
            nn.Linear(width, 2 * hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(2 * hidden, hidden), nn.GELU(),
        )
        self.head = classifier_head(hidden, config)

    def forward(self, inputs, masks, present, knockout=None) -> DSRSDOutput:
        available, state = modality_state(present, knockout)
        parts = [flatten_modality(inputs[m], masks.get(m)) * available[:, i:i + 1].float()
                 for i, m in enumerate(self.modalities)]
        logits = self.head(self.network(torch.cat(parts + [state], dim=-1)))
        return DSRSDOutput(logits, {}, {}, {}, uniform_gates(available), available)


class LateFusionNet(nn.Module):
    """Late fusion: one network per modality predicts the classes, and a learned weighted average of the
    logits over the modalities that are not knocked out gives the prediction.

    A truly missing modality still votes, from its state alone, because its absence is informative.
    When every modality is knocked out, a learned constant gives the prediction.
    """

    def __init__(self, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str], config: ModelConfig):
        super().__init__()
        self.modalities = list(modalities)
        self.config = config
        hidden = config.hidden_size
        self.encoders = nn.ModuleDict({
            m: ENCODER_TYPES[kinds[m]](input_sizes[m], hidden, config.dropout) for m in self.modalities
        })
        self.heads = nn.ModuleDict({m: classifier_head(hidden + 2, config) for m in self.modalities})
        self.weight_scores = nn.Parameter(torch.zeros(len(self.modalities)))
        self.fallback_logits = nn.Parameter(torch.zeros(config.num_classes))

    def forward(self, inputs, masks, present, knockout=None) -> DSRSDOutput:
        available, _ = modality_state(present, knockout)
        voting = ~knockout if knockout is not None else torch.ones_like(present)     # B x M
        logits = []
        for i, m in enumerate(self.modalities):
            own = available[:, i:i + 1].float()
            truly_missing = (voting[:, i:i + 1] & ~present[:, i:i + 1]).float()
            encoding = self.encoders[m](inputs[m], masks.get(m)) * own
            logits.append(self.heads[m](torch.cat([encoding, own, truly_missing], dim=-1)))
        stacked = torch.stack(logits, dim=1)                                          # B x M x C

        scores = self.weight_scores.expand(len(present), -1).masked_fill(~voting, -1e9)
        weights = torch.softmax(scores, dim=1) * voting.float()                      # B x M
        weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-12)
        fused = (weights.unsqueeze(-1) * stacked).sum(dim=1)                         # B x C
        none_voting = ~voting.any(dim=1, keepdim=True)
        fused = torch.where(none_voting, self.fallback_logits.expand_as(fused), fused)
        return DSRSDOutput(fused, {}, {}, {}, weights, available)


class CoAttentionNet(nn.Module):
    """Co-attention: each modality's tokens attend to the other modalities' tokens, then a head.

    A static modality is one token and a sequence modality one token per real step. Tokens of an
    unavailable modality are masked out as keys and its pooled code is zeroed. A learned null token
    is always a key, so a query always has something to attend to.
    """

    def __init__(self, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str],
                 config: ModelConfig, heads: int = 4):
        super().__init__()
        self.modalities = list(modalities)
        self.config = config
        hidden = config.hidden_size
        if hidden % heads:
            raise ValueError(f"invalid hidden_size {hidden} for co-attention: use a multiple of {heads} heads")
        self.embeddings = nn.ModuleDict({m: nn.Linear(input_sizes[m], hidden) for m in self.modalities})
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), hidden))
        self.null_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.attention = nn.ModuleDict({
            m: nn.MultiheadAttention(hidden, heads, dropout=config.dropout, batch_first=True) for m in self.modalities
        })
        self.norms = nn.ModuleDict({m: nn.LayerNorm(hidden) for m in self.modalities})
        self.head = classifier_head(len(self.modalities) * hidden + 2 * len(self.modalities), config)

    def _tokens(self, inputs, masks, available):
        """Return per modality (tokens B x T x D, valid B x T bool)."""
        tokens = {}
        for i, m in enumerate(self.modalities):
            values = inputs[m] if inputs[m].dim() == 3 else inputs[m].unsqueeze(1)    # B x T x F
            mask = masks.get(m)
            if mask is None:
                mask = torch.ones(values.shape[:2], dtype=torch.bool, device=values.device)
            valid = mask & available[:, i:i + 1]                                     # B x T
            tokens[m] = (self.embeddings[m](values) + self.modality_embedding[i], valid)
        return tokens

    def forward(self, inputs, masks, present, knockout=None) -> DSRSDOutput:
        available, state = modality_state(present, knockout)
        tokens = self._tokens(inputs, masks, available)
        batch = len(present)
        null = self.null_token.expand(batch, -1, -1)
        null_valid = torch.ones(batch, 1, dtype=torch.bool, device=present.device)

        pooled = []
        for m in self.modalities:
            query, query_valid = tokens[m]
            others = [tokens[o] for o in self.modalities if o != m]
            keys = torch.cat([null] + [t for t, _ in others], dim=1)                 # B x (1 + sum T) x D
            keys_valid = torch.cat([null_valid] + [v for _, v in others], dim=1)
            attended, _ = self.attention[m](query, keys, keys, key_padding_mask=~keys_valid, need_weights=False)
            mixed = self.norms[m](query + attended)                                  # B x T x D
            weights = query_valid.to(mixed.dtype).unsqueeze(-1)
            pooled.append((mixed * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0))
        logits = self.head(torch.cat(pooled + [state], dim=-1))
        return DSRSDOutput(logits, {}, {}, {}, uniform_gates(available), available)
