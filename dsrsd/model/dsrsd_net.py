"""DSRSD-Net: Dual-Stream Residual Semantic Decorrelation Network (arXiv 2512.07568).

Letters: B batch, M modalities, D hidden width, K alignment width.

Per modality m: encoder -> h_m (B x D); a residual projection splits it into a shared code
s_m = W_m h_m and a private code p_m = h_m - s_m, so the two streams add up to the encoding. W_m is
a learned linear map, or with `ModelConfig.shared_split` "projection" an orthogonal projection. An
alignment head shared by all modalities maps s_m into one space (z_m, B x K), where the losses in
`dsrsd.losses` pull one learner's modalities together. Gated fusion weighs the modalities that
are available (truly present and not knocked out), renormalising the gates over them, and the
task head reads the fused code plus each modality's state: available, truly missing or knocked
out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dsrsd.config import ModelConfig
from dsrsd.model.encoders import SequenceEncoder, StaticEncoder


@dataclass
class DSRSDOutput:
    """Output of `DSRSDNet.forward`; dicts are keyed by modality name."""

    logits: torch.Tensor               # B x C
    shared: dict[str, torch.Tensor]    # B x D each
    private: dict[str, torch.Tensor]   # B x D each
    aligned: dict[str, torch.Tensor]   # B x K each
    gates: torch.Tensor                # B x M, rows sum to 1 over available modalities (0 if none)
    available: torch.Tensor            # B x M bool: present and not knocked out
    present: torch.Tensor | None = None  # B x M bool: truly has data, knocked out or not


class DSRSDNet(nn.Module):
    def __init__(self, modalities: list[str], input_sizes: dict[str, int], kinds: dict[str, str], config: ModelConfig):
        super().__init__()
        self.modalities = list(modalities)
        self.config = config
        hidden = config.hidden_size
        encoder_types = {"static": StaticEncoder, "sequence": SequenceEncoder}
        self.encoders = nn.ModuleDict({
            m: encoder_types[kinds[m]](input_sizes[m], hidden, config.dropout) for m in self.modalities
        })
        self.shared_projections = nn.ModuleDict({
            m: _shared_projection(hidden, config.shared_rank, config.shared_split) for m in self.modalities
        })
        self.alignment_head = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, config.align_size),
        )
        self.fusion_projections = nn.ModuleDict({m: nn.Linear(2 * hidden, hidden) for m in self.modalities})
        self.gate_scores = nn.ModuleDict({m: nn.Linear(2 * hidden, 1) for m in self.modalities})
        state_size = 2 * len(self.modalities)
        self.task_head = nn.Sequential(
            nn.LayerNorm(hidden + state_size), nn.Linear(hidden + state_size, hidden), nn.GELU(),
            nn.Dropout(config.dropout), nn.Linear(hidden, config.num_classes),
        )

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        present: torch.Tensor,
        knockout: torch.Tensor | None = None,
    ) -> DSRSDOutput:
        """Run the network.

        Args:
            inputs: modality -> B x F (static) or B x T x F (sequence) float tensor.
            masks: sequence modality -> B x T bool step mask.
            present: B x M bool, True where the learner truly has data in the modality.
            knockout: B x M bool, True where the modality is hidden (simulated missingness).
        """
        if knockout is None:
            knockout = torch.zeros_like(present)
        shared, private, aligned = self.encode(inputs, masks)
        logits, gates, available = self.fuse(shared, private, present, knockout)
        return DSRSDOutput(logits, shared, private, aligned, gates, available, present)

    def encode(self, inputs: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        """Split every modality's encoding into its streams: (shared, private, aligned) dicts."""
        shared, private, aligned = {}, {}, {}
        for m in self.modalities:
            encoding = self.encoders[m](inputs[m], masks.get(m))                 # B x D
            shared[m] = self.shared_projections[m](encoding)
            private[m] = encoding - shared[m]
            aligned[m] = self.alignment_head(shared[m])                          # B x K
        return shared, private, aligned

    def fuse(self, shared: dict[str, torch.Tensor], private: dict[str, torch.Tensor], present: torch.Tensor,
             knockout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gate the modalities' streams and run the task head: (logits B x C, gates B x M, available B x M).

        Separate from `encode` so that attribution can replace one stream by a baseline code.
        """
        available = present & ~knockout                                          # B x M
        fused_parts, scores = [], []
        for m in self.modalities:
            both = torch.cat([shared[m], private[m]], dim=-1)                    # B x 2D
            fused_parts.append(self.fusion_projections[m](both))
            scores.append(self.gate_scores[m](both).squeeze(-1))
        gates = self._gates(torch.stack(scores, dim=1), available)               # B x M
        fused = (gates.unsqueeze(-1) * torch.stack(fused_parts, dim=1)).sum(dim=1)  # B x D
        # Each modality's state: (1, 0) available, (0, 1) truly missing, (0, 0) knocked out.
        truly_missing = ~present & ~knockout
        state = torch.cat([available, truly_missing], dim=1).to(fused.dtype)    # B x 2M
        logits = self.task_head(torch.cat([fused, state], dim=-1))
        return logits, gates, available

    def _gates(self, scores: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        if self.config.fusion == "mean":
            scores = torch.zeros_like(scores)
        # A large finite fill instead of -inf keeps rows with no available modality free of NaN;
        # multiplying by `available` then gives them all-zero gates, so they fuse to zero.
        gates = torch.softmax(scores.masked_fill(~available, -1e9), dim=1) * available.to(scores.dtype)
        return gates / gates.sum(dim=1, keepdim=True).clamp(min=1e-12)


def _shared_projection(hidden: int, rank: int, split: str) -> nn.Module:
    """Return the map W of s = W h: a full D x D linear map, one factored through `rank` dimensions,
    or for split "projection" the orthogonal projection onto a learned `rank`-dimensional subspace."""
    if split == "projection":
        return OrthogonalProjection(hidden, rank)
    if rank == 0:
        return nn.Linear(hidden, hidden)
    # NOTE: unless W is idempotent, the private code h - W h keeps a scaled copy of each shared
    # coordinate (for rank 1, W = u v^T leaves (1 - v^T u) v^T h in v^T p), which a linear probe reads.
    return nn.Sequential(nn.Linear(hidden, rank, bias=False), nn.Linear(rank, hidden))


class OrthogonalProjection(nn.Module):
    """The map h -> Q Q^T h, with Q (D x rank) an orthonormal basis of a learned subspace.

    Being idempotent, it leaves the private code h - Q Q^T h with no component along Q, so the
    shared coordinates Q^T h have no copy in it.
    """

    def __init__(self, hidden: int, rank: int):
        super().__init__()
        self.basis = nn.Parameter(torch.linalg.qr(torch.randn(hidden, rank)).Q)   # D x rank

    def forward(self, encoding: torch.Tensor) -> torch.Tensor:
        q = torch.linalg.qr(self.basis).Q                                         # D x rank, orthonormal
        return encoding @ q @ q.T                                                 # B x D
