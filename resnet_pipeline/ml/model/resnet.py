"""The 1D ResNet family (SPEC 7): one class, variants are data (block type + counts)."""

from __future__ import annotations

import math

import torch
from torch import nn

from resnet_pipeline.ml.model.blocks import BLOCKS, NormLayer, conv1x1, conv_k
from resnet_pipeline.ml.model.model_config import ARCHS, NORM_NAMES, ModelConfig


def group_norm(channels: int) -> nn.GroupNorm:
    """32 groups (fewer when the width is not a multiple): independent of the batch size."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


# A name per norm layer keeps the choice serialisable in a checkpoint's model_config.
NORMS: dict[str, NormLayer] = dict(zip(NORM_NAMES, (nn.BatchNorm1d, group_norm), strict=True))


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
    """``norm_layer`` overrides ``cfg.norm`` (as torchvision's); a checkpoint records only
    ``cfg``, so weights trained with a custom norm fail to load into the configured one."""

    def __init__(self, cfg: ModelConfig, norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        norm_layer = norm_layer or NORMS[cfg.norm]  # not kept: the model stays picklable
        block = BLOCKS[cfg.block_name]
        counts = ARCHS[cfg.arch][1]
        if cfg.positional_encoding:
            self.register_buffer("pos", sinusoidal_encoding(cfg.window, cfg.in_channels))
        else:
            self.pos = None
        widths = cfg.stage_widths
        self.stem = nn.Sequential(
            conv_k(cfg.in_channels, widths[0], 7, stride=2),
            norm_layer(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        self.in_width = widths[0]
        self.stages = nn.ModuleList(
            self._make_layer(block, width, count, 1 if i == 0 else 2, norm_layer)
            for i, (width, count) in enumerate(zip(widths, counts, strict=True))
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(widths[-1] * block.expansion, cfg.num_classes)
        self._init_weights(cfg.zero_init_residual)

    def _make_layer(
        self, block: type[nn.Module], width: int, count: int, stride: int, norm_layer: NormLayer
    ) -> nn.Sequential:
        out = width * block.expansion
        downsample = None
        if stride != 1 or self.in_width != out:  # 1x1 projection on the skip
            downsample = nn.Sequential(conv1x1(self.in_width, out, stride), norm_layer(out))
        layers = [block(self.in_width, width, stride, downsample, norm_layer)]
        self.in_width = out
        layers += [block(out, width, norm_layer=norm_layer) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm1d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # residual branches start at 0: each block is ReLU(skip)
            for stage in self.stages:
                for block in stage:
                    if getattr(block.last_norm, "weight", None) is not None:
                        nn.init.zeros_(block.last_norm.weight)

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


def build_model(cfg: ModelConfig | None = None, norm_layer: NormLayer | None = None) -> ResNet1D:
    return ResNet1D(cfg or ModelConfig(), norm_layer)
