"""The 1D ResNet family (SPEC 7): one class, variants are data (block type + counts)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from resnet_pipeline.ml.blocks import BLOCKS, Bottleneck

ARCHS: dict[str, tuple[str, tuple[int, ...]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
_TOTAL_STRIDE = 32  # stem conv 2 x max-pool 2 x three stride-2 stages


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "resnet18"
    block: str | None = None  # None: the architecture's own (basic, or bottleneck for resnet50)
    in_channels: int = 15
    num_classes: int = 3
    window: int = 256
    dropout: float = 0.3
    positional_encoding: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch={self.arch!r}: use one of {sorted(ARCHS)}")
        if self.block is not None and self.block not in BLOCKS:
            raise ValueError(f"block={self.block!r}: use one of {sorted(BLOCKS)}")
        if self.window < _TOTAL_STRIDE:
            raise ValueError(
                f"window={self.window} is shorter than the network's total stride "
                f"{_TOTAL_STRIDE}: use a window of at least {_TOTAL_STRIDE} rows"
            )
        if self.in_channels < 1 or self.num_classes < 2 or not 0 <= self.dropout < 1:
            raise ValueError("need in_channels >= 1, num_classes >= 2 and 0 <= dropout < 1")

    @property
    def block_name(self) -> str:
        return self.block or ARCHS[self.arch][0]

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_encoding(length: int, channels: int) -> torch.Tensor:
    """[channels, length] with PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    position = torch.arange(length, dtype=torch.float32)[None, :]
    div = torch.exp(
        torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels)
    )
    pe = torch.zeros(channels, length)
    pe[0::2] = torch.sin(div[:, None] * position)
    pe[1::2] = torch.cos(div[: channels // 2, None] * position)
    return pe


class ResNet1D(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        block = BLOCKS[cfg.block_name]
        counts = ARCHS[cfg.arch][1]
        if cfg.positional_encoding:
            self.register_buffer("pos", sinusoidal_encoding(cfg.window, cfg.in_channels))
        else:
            self.pos = None
        self.stem = nn.Sequential(
            nn.Conv1d(cfg.in_channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm1d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        self.in_width = 64
        self.stages = nn.ModuleList(
            self._make_layer(block, width, count, stride=1 if i == 0 else 2)
            for i, (width, count) in enumerate(zip(STAGE_WIDTHS, counts, strict=True))
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(STAGE_WIDTHS[-1] * block.expansion, cfg.num_classes)
        self._init_weights()

    def _make_layer(
        self, block: type[nn.Module], width: int, count: int, stride: int
    ) -> nn.Sequential:
        out = width * block.expansion
        downsample = None
        if stride != 1 or self.in_width != out:  # 1x1 projection on the skip
            downsample = nn.Sequential(
                nn.Conv1d(self.in_width, out, 1, stride=stride, bias=False), nn.BatchNorm1d(out)
            )
        layers = [block(self.in_width, width, stride, downsample)]
        self.in_width = out
        layers += [block(out, width) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # residual branches start near identity (torchvision's zero-init)
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output, e.g. [B,64,64], [B,128,32], [B,256,16], [B,512,8] for ResNet-18."""
        assert x.ndim == 3 and x.shape[1] == self.cfg.in_channels, (
            f"expected [B, {self.cfg.in_channels}, T], got {tuple(x.shape)}"
        )
        if self.pos is not None:
            x = x + self.pos[:, : x.shape[2]]  # [B, C, T]
        x = self.stem(x)  # [B, 64, T/4]
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]  # [B, 512*expansion, T/32]
        x = self.pool(x).flatten(1)  # [B, 512*expansion]
        return self.head(self.dropout(x))  # [B, num_classes] logits


def build_model(cfg: ModelConfig = ModelConfig()) -> ResNet1D:
    return ResNet1D(cfg)
