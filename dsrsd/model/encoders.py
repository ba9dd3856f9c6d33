"""Per-modality encoders. Letters: B batch, T steps, F input features, D hidden width."""

from __future__ import annotations

import torch
from torch import nn


class StaticEncoder(nn.Module):
    """MLP encoder of a per-learner feature vector: B x F -> B x D."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_size, hidden_size), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size), nn.LayerNorm(hidden_size),
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(values)


class SequenceEncoder(nn.Module):
    """Mask-aware GRU encoder: B x T x F with a B x T step mask -> B x D.

    Steps are left-aligned, so the GRU state at the last real step has seen no padding. It is
    joined with the masked mean of the step states. A sequence without a real step encodes to zeros
    before the output projection.
    """

    def __init__(self, input_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(input_size, hidden_size), nn.GELU())
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden_size, hidden_size), nn.LayerNorm(hidden_size))

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embed(values))                     # B x T x D
        weights = mask.to(states.dtype).unsqueeze(-1)                # B x T x 1
        lengths = mask.sum(dim=1)                                    # B
        last_index = (lengths - 1).clamp(min=0)
        last = states[torch.arange(states.shape[0], device=states.device), last_index]  # B x D
        last = last * (lengths > 0).to(states.dtype).unsqueeze(-1)
        mean = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.out(torch.cat([last, mean], dim=-1))
