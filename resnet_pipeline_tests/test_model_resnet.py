"""The ResNet-1D family: exact shapes, parameter counts, every variant trains a step."""

import pytest
import torch

from resnet_pipeline.ml.resnet import ModelConfig, build_model, sinusoidal_encoding

torch.set_num_threads(2)


def conv(i, o, k):
    return i * o * k


def bn(c):
    return 2 * c


def basic_block(i, o, projection):
    params = conv(i, o, 3) + bn(o) + conv(o, o, 3) + bn(o)
    return params + (conv(i, o, 1) + bn(o) if projection else 0)


def bottleneck(i, w, projection):
    o = 4 * w
    params = conv(i, w, 1) + bn(w) + conv(w, w, 3) + bn(w) + conv(w, o, 1) + bn(o)
    return params + (conv(i, o, 1) + bn(o) if projection else 0)


def expected_params(counts, block, expansion):
    total = conv(15, 64, 7) + bn(64)
    width_in = 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
        out = width * expansion
        for b in range(count):
            first = b == 0
            projection = first and (stage > 0 or width_in != out)
            total += block(width_in if first else out, width if expansion > 1 else out, projection)
        width_in = out
    return total + 512 * expansion * 3 + 3


def test_resnet18_stage_shapes_are_the_spec():
    model = build_model(ModelConfig())
    stages = model.forward_features(torch.randn(2, 15, 256))
    assert [tuple(s.shape) for s in stages] == [
        (2, 64, 64),
        (2, 128, 32),
        (2, 256, 16),
        (2, 512, 8),
    ]
    assert model(torch.randn(2, 15, 256)).shape == (2, 3)


@pytest.mark.parametrize(
    ("arch", "counts", "block", "expansion"),
    [
        ("resnet18", (2, 2, 2, 2), basic_block, 1),
        ("resnet34", (3, 4, 6, 3), basic_block, 1),
        ("resnet50", (3, 4, 6, 3), bottleneck, 4),
    ],
)
def test_parameter_counts_match_the_architecture(arch, counts, block, expansion):
    model = build_model(ModelConfig(arch=arch))
    assert sum(p.numel() for p in model.parameters()) == expected_params(counts, block, expansion)


def test_resnet18_has_the_known_size():
    assert sum(p.numel() for p in build_model().parameters()) == 3_851_715


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(arch="resnet18", window=64, in_channels=4),
        ModelConfig(arch="resnet34", window=64, in_channels=4),
        ModelConfig(arch="resnet50", window=64, in_channels=4),
        ModelConfig(block="se", window=64, in_channels=4),
        ModelConfig(block="multiscale", window=64, in_channels=4),
        ModelConfig(positional_encoding=True, window=64, in_channels=4),
        ModelConfig(arch="resnet50", block="se", window=100, in_channels=7),
    ],
    ids=lambda c: f"{c.arch}-{c.block}-pe{c.positional_encoding}-{c.in_channels}x{c.window}",
)
def test_every_variant_trains_a_step(cfg):
    torch.manual_seed(0)
    model = build_model(cfg)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(4, cfg.in_channels, cfg.window), torch.tensor([0, 1, 2, 1])
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_positional_encoding_is_sinusoidal():
    pe = sinusoidal_encoding(10, 4)
    assert torch.allclose(pe[0], torch.sin(torch.arange(10.0)))
    assert torch.allclose(pe[1], torch.cos(torch.arange(10.0)))
    assert torch.allclose(pe[2], torch.sin(torch.arange(10.0) / 100.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"arch": "resnet101"}, "arch"), ({"block": "dense"}, "block"), ({"window": 16}, "stride")],
)
def test_unsupported_configs_fail_early(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)
