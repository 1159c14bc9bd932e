"""Residual blocks for 1D ResNets, after torchvision's resnet.py with Conv1d/BatchNorm1d.

Every block takes ``(in_channels, channels, stride, downsample, norm_layer)``, has an
``expansion`` attribute and names the last norm of its residual branch (``last_norm``), so one
``ResNet1D._make_layer`` builds any of them and one loop zero-initialises any of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from resnet_pipeline.ml.model.model_config import BLOCK_NAMES

NormLayer = Callable[[int], nn.Module]  # channels -> norm module, e.g. nn.BatchNorm1d


def conv_k(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Conv1d:
    """Length-preserving (at stride 1) convolution; no bias when a norm follows."""
    return nn.Conv1d(
        in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=bias
    )


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv1d:
    """Kernel 3 (torchvision's name; in 1D the kernel is 3 wide)."""
    return conv_k(in_channels, out_channels, 3, stride)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv1d:
    """Kernel 1: a per-time-step channel projection (skip, bottleneck, SE, fusion)."""
    return conv_k(in_channels, out_channels, 1, stride, bias)


class BasicBlock(nn.Module):
    """conv3-norm-ReLU-conv3-norm (+ skip) -> ReLU."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm1d,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = norm_layer(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        return self.bn2

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3 -> 1x1 expand (x4), as ResNet-50: fewer parameters at the same depth."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm1d,
    ) -> None:
        super().__init__()
        out = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels)
        self.bn1 = norm_layer(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn2 = norm_layer(channels)
        self.conv3 = conv1x1(channels, out)
        self.bn3 = norm_layer(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        return self.bn3

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class SEBasicBlock(BasicBlock):
    """Basic block whose residual is re-weighted per channel (squeeze-and-excitation).

    The excitation is two biased 1x1 convs over the time-averaged residual, as torchvision's
    ``SqueezeExcitation``; its ``last_norm`` stays ``bn2`` (the excitation has no norm).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm1d,
        reduction: int = 16,
    ) -> None:
        super().__init__(in_channels, channels, stride, downsample, norm_layer)
        hidden = max(channels // reduction, 4)
        self.excitation = nn.Sequential(
            conv1x1(channels, hidden, bias=True),
            nn.ReLU(inplace=True),
            conv1x1(hidden, channels, bias=True),
            nn.Sigmoid(),
        )

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        r = super().residual(x)  # [B, C, T]
        weights = self.excitation(r.mean(dim=2, keepdim=True))  # squeeze over time: [B, C, 1]
        return r * weights

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Weights saved when the excitation was nn.Linear ([out, in]) load as 1x1 convs."""
        for index in (0, 2):
            key = f"{prefix}excitation.{index}.weight"
            if key in state_dict and state_dict[key].ndim == 2:
                state_dict[key] = state_dict[key].unsqueeze(-1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class MultiScaleBlock(nn.Module):
    """Parallel kernels 3, 5 and 7 over the same input, fused by a 1x1 conv (+ skip)."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm1d,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                conv_k(in_channels, channels, k, stride),
                norm_layer(channels),
                nn.ReLU(inplace=True),
            )
            for k in (3, 5, 7)
        )
        self.fusion = conv1x1(3 * channels, channels)
        self.bn = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        return self.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        fused = self.bn(self.fusion(torch.cat([branch(x) for branch in self.branches], dim=1)))
        return self.relu(fused + identity)


BLOCKS: dict[str, type[nn.Module]] = dict(
    zip(BLOCK_NAMES, (BasicBlock, Bottleneck, SEBasicBlock, MultiScaleBlock), strict=True)
)
