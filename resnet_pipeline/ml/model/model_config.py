"""What a 1D ResNet is (SPEC 7): the architecture's knobs, without torch, so an experiment
file is checked against them in a light process; ``resnet`` builds the network from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from resnet_pipeline.knobs import check_knobs, knob

ARCHS: dict[str, tuple[str, tuple[int, ...]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}
BLOCK_NAMES = ("basic", "bottleneck", "se", "multiscale")  # blocks.BLOCKS builds each
NORM_NAMES = ("batch", "group")  # resnet.NORMS builds each
STAGE_WIDTHS = (64, 128, 256, 512)  # the seed's stages; ModelConfig.width scales them
TOTAL_STRIDE = 32  # stem conv 2 x max-pool 2 x three stride-2 stages
MAX_WIDTH = 1024


@dataclass(frozen=True)
class ModelConfig:
    arch: str = knob("resnet18", "depth and block family", choices=tuple(ARCHS))
    block: str | None = knob(
        None, "residual block (null: the architecture's own)", choices=(None, *BLOCK_NAMES)
    )
    in_channels: int = knob(
        15, "input channels: the dataset's feature channels", from_data=True, ge=1
    )
    num_classes: int = knob(3, "output classes: the label's classes", from_data=True, ge=2)
    window: int = knob(
        256,
        "input length in rows: the dataset's window",
        from_data=True,
        ge=TOTAL_STRIDE,
        note=f"a shorter window than the network's total stride {TOTAL_STRIDE} has no output",
    )
    width: int = knob(
        STAGE_WIDTHS[0],
        "channels of the stem and the first stage; each later stage doubles them (64: the "
        "seed's 64-128-256-512; smaller widths cost about width^2 less)",
        ge=4,
        le=MAX_WIDTH,
    )
    dropout: float = knob(0.3, "dropout before the linear head", ge=0, lt=1)
    positional_encoding: bool = knob(False, "add a sinusoidal time encoding to the input")
    norm: str = knob(
        "batch", "normalization layer of the stem, every block and projection", choices=NORM_NAMES
    )
    zero_init_residual: bool = knob(
        False, "start each residual branch's last norm at 0, so each block starts as identity"
    )

    def __post_init__(self) -> None:
        check_knobs(self)

    @property
    def block_name(self) -> str:
        return self.block or ARCHS[self.arch][0]

    @property
    def stage_widths(self) -> tuple[int, ...]:
        """The stages' channels: ``STAGE_WIDTHS`` scaled to ``width``."""
        return tuple(w * self.width // STAGE_WIDTHS[0] for w in STAGE_WIDTHS)

    def to_dict(self) -> dict:
        return asdict(self)
