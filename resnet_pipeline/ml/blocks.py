"""Residual blocks for 1D ResNets, after torchvision's resnet.py with Conv1d/BatchNorm1d.

Every block takes ``(in_channels, channels, stride, downsample)`` and has an ``expansion``
attribute, so one ``ResNet1D._make_layer`` builds any of them.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN (+ skip) -> ReLU."""

    expansion = 1

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = conv3(channels, channels)
        self.bn2 = nn.BatchNorm1d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3 -> 1x1 expand (x4), as ResNet-50: fewer parameters at the same depth."""

    expansion = 4

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        out = channels * self.expansion
        self.conv1 = conv1(in_channels, channels)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = conv3(channels, channels, stride)
        self.bn2 = nn.BatchNorm1d(channels)
        self.conv3 = conv1(channels, out)
        self.bn3 = nn.BatchNorm1d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class SEBasicBlock(BasicBlock):
    """Basic block whose residual is re-weighted per channel (squeeze-and-excitation)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        reduction: int = 16,
    ) -> None:
        super().__init__(in_channels, channels, stride, downsample)
        hidden = max(channels // reduction, 4)
        self.excitation = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        r = super().residual(x)  # [B, C, T]
        weights = self.excitation(r.mean(dim=2))  # squeeze over time: [B, C]
        return r * weights.unsqueeze(-1)


class MultiScaleBlock(nn.Module):
    """Parallel kernels 3, 5 and 7 over the same input, fused by a 1x1 conv (+ skip)."""

    expansion = 1

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(in_channels, channels, k, stride=stride, padding=k // 2, bias=False),
                nn.BatchNorm1d(channels),
                nn.ReLU(inplace=True),
            )
            for k in (3, 5, 7)
        )
        self.fusion = conv1(3 * channels, channels)
        self.bn = nn.BatchNorm1d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        fused = self.bn(self.fusion(torch.cat([branch(x) for branch in self.branches], dim=1)))
        return self.relu(fused + identity)


BLOCKS: dict[str, type[nn.Module]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "se": SEBasicBlock,
    "multiscale": MultiScaleBlock,
}
