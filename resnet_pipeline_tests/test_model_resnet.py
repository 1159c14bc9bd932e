"""The ResNet-1D family: exact shapes, parameter counts, every variant trains a step."""

import pytest
import torch
from torch import nn

from resnet_pipeline.ml.model.blocks import Bottleneck, MultiScaleBlock, SEBasicBlock, conv1x1
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model, sinusoidal_encoding


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


def test_width_scales_every_stage_and_the_default_is_the_seed_s():
    assert ModelConfig().stage_widths == (64, 128, 256, 512)
    narrow = build_model(ModelConfig(width=16, window=64))
    stages = narrow.forward_features(torch.randn(2, 15, 64))
    assert [tuple(s.shape) for s in stages] == [(2, 16, 16), (2, 32, 8), (2, 64, 4), (2, 128, 2)]
    assert narrow(torch.randn(2, 15, 64)).shape == (2, 3)
    full = sum(p.numel() for p in build_model(ModelConfig(window=64)).parameters())
    assert sum(p.numel() for p in narrow.parameters()) < full / 12  # about width^2 fewer
    with pytest.raises(ValueError, match="width"):
        ModelConfig(width=2)


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
        ModelConfig(norm="group", zero_init_residual=True, window=64, in_channels=4),
        ModelConfig(arch="resnet50", zero_init_residual=True, window=64, in_channels=4),
    ],
    ids=lambda c: (
        f"{c.arch}-{c.block}-pe{c.positional_encoding}-{c.in_channels}x{c.window}"
        f"-{c.norm}-zero{c.zero_init_residual}"
    ),
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
    [
        ({"arch": "resnet101"}, "arch"),
        ({"block": "dense"}, "block"),
        ({"window": 16}, "stride"),
        ({"norm": "layer"}, "norm"),
    ],
)
def test_unsupported_configs_fail_early(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


LAST_NORM = {"basic": "bn2", "bottleneck": "bn3", "se": "bn2", "multiscale": "bn"}
SMALL = {"window": 64, "in_channels": 4}


def _blocks(model):
    return [block for stage in model.stages for block in stage]


@pytest.mark.parametrize("block", sorted(LAST_NORM))
def test_zero_init_residual_zeroes_the_last_norm_of_every_residual_branch(block):
    zeroed = build_model(ModelConfig(block=block, zero_init_residual=True, **SMALL))
    default = build_model(ModelConfig(block=block, **SMALL))
    for with_zero, without in zip(_blocks(zeroed), _blocks(default), strict=True):
        assert torch.count_nonzero(getattr(with_zero, LAST_NORM[block]).weight) == 0
        assert torch.all(getattr(without, LAST_NORM[block]).weight == 1)
    others = [
        m.weight
        for b in _blocks(zeroed)
        for m in b.modules()
        if isinstance(m, nn.BatchNorm1d) and m is not getattr(b, LAST_NORM[block])
    ]
    assert others and all(torch.all(w == 1) for w in others)


def test_zero_init_residual_is_off_by_default_for_bottleneck_too():
    model = build_model(ModelConfig(arch="resnet50", **SMALL))
    assert all(torch.all(b.bn3.weight == 1) for b in _blocks(model))


def _norm_count(model):
    return sum(isinstance(m, nn.BatchNorm1d) for m in model.modules())


@pytest.mark.parametrize("block", sorted(LAST_NORM))
@pytest.mark.parametrize(
    ("norm_layer", "kind"),
    [(lambda c: nn.GroupNorm(4, c), nn.GroupNorm), (lambda c: nn.Identity(), nn.Identity)],
    ids=["group", "identity"],
)
def test_an_injected_norm_layer_replaces_every_norm(block, norm_layer, kind):
    expected = _norm_count(build_model(ModelConfig(block=block, **SMALL)))
    model = build_model(ModelConfig(block=block, zero_init_residual=True, **SMALL), norm_layer)
    assert _norm_count(model) == 0
    assert sum(type(m) is kind for m in model.modules()) >= expected
    assert all(type(getattr(b, LAST_NORM[block])) is kind for b in _blocks(model))
    assert model(torch.randn(2, 4, 64)).shape == (2, 3)


def test_norm_is_a_serialisable_config_choice():
    cfg = ModelConfig(norm="group", arch="resnet50", **SMALL)
    assert ModelConfig(**cfg.to_dict()) == cfg
    model = build_model(cfg)
    assert _norm_count(model) == 0
    groups = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert len(groups) == _norm_count(build_model(ModelConfig(arch="resnet50", **SMALL)))
    assert all(m.num_channels % m.num_groups == 0 and m.num_groups == 32 for m in groups)
    batch = build_model(ModelConfig(arch="resnet50", **SMALL))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in batch.parameters())


def test_a_config_saved_before_the_norm_options_still_loads():
    old = ModelConfig().to_dict()
    del old["norm"], old["zero_init_residual"]
    cfg = ModelConfig(**old)
    assert (cfg.norm, cfg.zero_init_residual) == ("batch", False)


def _projections(model):
    """Every 1x1 channel projection, found by role (not by kernel size)."""
    for b in _blocks(model):
        if b.downsample is not None:
            yield b.downsample[0]
        if isinstance(b, Bottleneck):
            yield from (b.conv1, b.conv3)
        if isinstance(b, SEBasicBlock):
            yield from (b.excitation[0], b.excitation[2])
        if isinstance(b, MultiScaleBlock):
            yield b.fusion


@pytest.mark.parametrize("block", sorted(LAST_NORM))
def test_every_projection_is_a_conv1x1(block):
    projections = list(_projections(build_model(ModelConfig(block=block, **SMALL))))
    assert len(projections) >= 3
    for conv in projections:
        like = conv1x1(conv.in_channels, conv.out_channels, conv.stride[0], conv.bias is not None)
        assert repr(conv) == repr(like)


def test_se_parameter_count_adds_two_biased_projections_per_block():
    se = build_model(ModelConfig(block="se"))
    widths = [
        w for w, count in zip((64, 128, 256, 512), (2, 2, 2, 2), strict=True) for _ in range(count)
    ]
    extra = sum(c * max(c // 16, 4) + max(c // 16, 4) + max(c // 16, 4) * c + c for c in widths)
    assert sum(p.numel() for p in se.parameters()) == 3_851_715 + extra


def test_se_weights_saved_with_linear_excitation_still_load():
    torch.manual_seed(0)
    model = build_model(ModelConfig(block="se", **SMALL)).eval()
    old = {
        k: v.squeeze(-1) if ".excitation." in k and k.endswith("weight") else v
        for k, v in model.state_dict().items()
    }
    assert any(v.ndim == 2 and ".excitation." in k for k, v in old.items())
    torch.manual_seed(1)
    fresh = build_model(ModelConfig(block="se", **SMALL)).eval()
    fresh.load_state_dict(old)
    x = torch.randn(2, 4, 64)
    assert torch.equal(fresh(x), model(x))
