"""The multi-task modules of Moment&Cross's base: MMoE, and CGC / PLE (PLE = stacked CGC layers).

Each maps the embedded sample (n, d_in) to one representation per tower, stacked: (towers, n, d_out). The
experts, gates and towers of a layer are banks of independent MLPs evaluated as one batched matmul, so a
forward pass costs a few large operations rather than one small one per expert (it matters for the
streaming replay's per-tick steps).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Bank(nn.Module):
    """`count` independent MLPs with the same shape (Linear + ReLU per width; `activate_last=False` leaves the
    last layer linear). Input (n, d_in), shared by every member, or (count, n, d_in); output (count, n, d)."""

    def __init__(self, count: int, n_in: int, units: list[int], activate_last: bool = True):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for width in units:
            bound = 1.0 / math.sqrt(n_in)   # nn.Linear's default initialisation, per member
            self.weights.append(nn.Parameter(torch.empty(count, n_in, width).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(count, 1, width).uniform_(-bound, bound)))
            n_in = width
        self.activate_last = activate_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.matmul(x, w) + b
            if i < last or self.activate_last:
                x = torch.relu(x)
        return x


def _mix(gate_logits: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Per tower, the gate's softmax over its experts: (T, n, E) with (T, E, n, d) -> (T, n, d)."""
    return torch.einsum("tne,tend->tnd", torch.softmax(gate_logits, dim=2), experts)


class MMoE(nn.Module):
    """Multi-gate mixture of experts (Ma et al., 2018): shared experts, one softmax gate per tower."""

    def __init__(self, n_in: int, n_towers: int, n_experts: int, units: list[int]):
        super().__init__()
        self.n_towers = n_towers
        self.experts = Bank(n_experts, n_in, units)
        self.gates = Bank(n_towers, n_in, [n_experts], activate_last=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        experts = self.experts(x)                                          # (E, n, d)
        return _mix(self.gates(x), experts.unsqueeze(0).expand(self.n_towers, *experts.shape))


class Extraction(nn.Module):
    """One CGC layer (Tang et al., 2020): shared experts plus each tower's own; a tower's gate mixes its own and
    the shared experts. A layer feeding another also mixes every expert into the next layer's shared input."""

    def __init__(self, n_in: int, n_towers: int, n_shared: int, n_specific: int, units: list[int],
                 shared_out: bool):
        super().__init__()
        self.n_towers, self.n_specific = n_towers, n_specific
        self.shared = Bank(n_shared, n_in, units)
        self.specific = Bank(n_towers * n_specific, n_in, units)
        self.gates = Bank(n_towers, n_in, [n_specific + n_shared], activate_last=False)
        self.shared_gate = nn.Linear(n_in, n_shared + n_specific * n_towers) if shared_out else None

    def forward(self, towers: torch.Tensor, shared_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """towers: (n, d_in) in the first layer, else (T, n, d_in); shared_in: (n, d_in)."""
        t, s = self.n_towers, self.n_specific
        own_in = towers if towers.dim() == 2 else towers.repeat_interleave(s, dim=0)
        own = self.specific(own_in)                                        # (T*S, n, d)
        shared = self.shared(shared_in)                                    # (Sh, n, d)
        per_tower = torch.cat([own.view(t, s, *own.shape[1:]), shared.unsqueeze(0).expand(t, *shared.shape)], dim=1)
        out = _mix(self.gates(towers), per_tower)
        if self.shared_gate is None:
            return out, None
        weights = torch.softmax(self.shared_gate(shared_in), dim=1)        # (n, T*S + Sh)
        return out, torch.einsum("ne,end->nd", weights, torch.cat([own, shared], dim=0))


class PLE(nn.Module):
    """Progressive layered extraction: `levels` stacked CGC layers (levels=1 is CGC; the deployed PLE has 2)."""

    def __init__(self, n_in: int, n_towers: int, n_shared: int, n_specific: int, units: list[int], levels: int):
        super().__init__()
        widths = [n_in] + [units[-1]] * (levels - 1)
        self.layers = nn.ModuleList(Extraction(w, n_towers, n_shared, n_specific, units, shared_out=i < levels - 1)
                                    for i, w in enumerate(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        towers, shared = x, x
        for layer in self.layers:
            towers, shared = layer(towers, shared)
        return towers
