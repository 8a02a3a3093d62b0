"""NAS-OoD's frozen auxiliary classifiers (algorithms.md §3.3): "ConvNet-4" with adaptive pooling, and
their pre-training on the training domains.

ConvNet-4: 4 x [Conv 3x3 (width) -> BN -> ReLU -> MaxPool 2 (ceil mode, so 1x1 maps stay 1x1)], then an
adaptive average pool to ``pool`` x ``pool`` (the paper's AvgPool 5x5/5 gives 1x1 at 84x84 and 2x2 at
224x224), flatten, ``Linear(flat -> emb_dim)`` = the embedding, ``Linear(emb_dim -> classes)``. Any input
size works. The category classifier's logits give the semantic loss; the domain classifier's embedding
gives the novelty (Sinkhorn) term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import sum_dtype

__all__ = ["ConvNet4", "freeze", "pretrain_classifier"]


class ConvNet4(nn.Module):
    """ConvNet-4 classifier: ``forward`` gives logits, ``embed`` the ``emb_dim`` embedding."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64, emb_dim: int = 64,
                 pool: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(4):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2, ceil_mode=True)]
            c = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pool), nn.Flatten())
        self.embedding = nn.Linear(width * pool * pool, emb_dim)
        self.head = nn.Linear(emb_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode (BN running statistics) and no parameter gradients; inputs still get gradients."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def pretrain_classifier(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 3, lr: float = 0.01,
                        batch_size: int = 64, momentum: float = 0.9, weight_decay: float = 5e-4,
                        generator: torch.Generator | None = None) -> dict[str, float]:
    """Train ``net`` on (x, y) by SGD (cross-entropy, shuffled batches from ``generator``), then freeze it.
    ``net``, x and y on one device; the shuffles are drawn on the CPU (``generator``).

    Returns the training accuracy (%) and loss of the last epoch (eval mode, after training).
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    net.train()
    n = len(y)
    b = max(2, min(batch_size, n))
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(x.device)
        for s in range(max(1, n // b)):
            idx = order[s * b:(s + 1) * b]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    freeze(net)
    with torch.no_grad():  # summed on the device (float64, as Python floats sum), read once
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        total = torch.zeros((), dtype=sum_dtype(x.device), device=x.device)
        for s in range(0, n, 256):
            logits = net(x[s:s + 256])
            correct += (logits.argmax(1) == y[s:s + 256]).sum()
            total += F.cross_entropy(logits, y[s:s + 256], reduction="sum").to(total.dtype)
    return {"accuracy": 100.0 * int(correct) / n, "loss": float(total) / n}
