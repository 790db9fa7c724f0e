"""`HParams`: everything the jitted train step needs to know at trace time.

Architecture (the official netG, netD, norm and init options), loss weights, GAN mode,
optimiser and learning-rate policy, numerics, conv layers. It
rides in `TrainState` as a static field, so `train_step(state, batch)` needs no config
and two states with equal hyperparameters share one compiled step. Built from a config
by `HParams.from_config`, where every value is checked once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from cyclegan_jax.data.preprocess import DIRECTIONS
from cyclegan_jax.nn.init import check_init_type
from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.networks import (PatchDiscriminator, PixelDiscriminator, ResnetGenerator,
                                      UnetGenerator)
from cyclegan_jax.nn.norms import check_norm
from cyclegan_jax.train.losses import GAN_MODES
from cyclegan_jax.train.optimizer import LR_POLICIES

# The official generators: ResNets by their residual blocks, U-Nets by their downsamplings.
NET_G_BLOCKS = {"resnet_9blocks": 9, "resnet_6blocks": 6}
NET_G_DOWNS = {"unet_128": 7, "unet_256": 8}
NET_G = tuple(NET_G_BLOCKS) + tuple(NET_G_DOWNS)
NET_D = ("basic", "n_layers", "pixel")
# The official `--model`s: CycleGAN (two generators, two discriminators, unpaired data) and
# pix2pix (one generator, one discriminator conditioned on the input, paired data).
MODELS = ("cycle_gan", "pix2pix")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class HParams:
    """Static hyperparameters of a CycleGAN or pix2pix run (official option names where
    they exist)."""

    model: str = "cycle_gan"
    ngf: int = 64
    ndf: int = 64
    netG: str = "resnet_9blocks"
    netD: str = "basic"
    n_layers_D: int = 3  # netD "n_layers" only ("basic" is 3)
    norm: str = "instance"
    init_type: str = "normal"
    init_gain: float = 0.02
    use_dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_L1: float = 100.0  # pix2pix only  # noqa: N815  (the official name)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps: float = 1e-8
    n_epochs: int = 100
    n_epochs_decay: int = 100
    epoch_count: int = 1
    lr_policy: str = "linear"
    lr_decay_iters: int = 50
    steps_per_epoch: int = 1334
    dtype: str = "float32"
    remat: bool = False
    conv: ConvLayers = ConvLayers()  # how the networks compute their convolutions

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        check_norm(self.norm)
        check_init_type(self.init_type)
        if self.netG not in NET_G:
            raise ValueError(f"netG must be one of {NET_G}, got {self.netG!r}")
        if self.netD not in NET_D:
            raise ValueError(f"netD must be one of {NET_D}, got {self.netD!r}")
        if self.n_layers_D < 0:
            raise ValueError(f"n_layers_D must be >= 0, got {self.n_layers_D}")
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.lr_policy not in LR_POLICIES:
            raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {self.lr_policy!r}")
        if self.lr_decay_iters < 1:
            raise ValueError(f"lr_decay_iters must be >= 1 (epochs), got {self.lr_decay_iters}")
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if (self.model == "cycle_gan" and self.lambda_identity > 0
                and self.input_nc != self.output_nc):
            raise ValueError(
                f"the identity loss needs input_nc == output_nc (got {self.input_nc} and "
                f"{self.output_nc}); set lambda_identity=0 for domains with different channels")

    @classmethod
    def from_config(cls, config: Any) -> HParams:
        """Reads the official option names off a config (see `configs/default.py`), and
        refuses a crop size the generator cannot take and an unknown pix2pix direction."""
        hp = cls(
            model=config.model, ngf=config.ngf, ndf=config.ndf, netG=config.netG,
            netD=config.netD, n_layers_D=config.n_layers_D, norm=config.norm,
            init_type=config.init_type, init_gain=config.init_gain,
            use_dropout=not config.no_dropout, input_nc=config.input_nc,
            output_nc=config.output_nc, gan_mode=config.gan_mode, lambda_A=config.lambda_A,
            lambda_B=config.lambda_B, lambda_identity=config.lambda_identity,
            lambda_L1=config.lambda_L1, lr=config.lr, beta1=config.beta1,
            n_epochs=config.n_epochs, n_epochs_decay=config.n_epochs_decay,
            epoch_count=config.epoch_count, lr_policy=config.lr_policy,
            lr_decay_iters=config.lr_decay_iters, steps_per_epoch=config.steps_per_epoch,
            dtype=config.dtype, remat=config.remat, conv=ConvLayers(config.conv_impl))
        if hp.model == "pix2pix" and config.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {config.direction!r}")
        multiple = hp.size_multiple
        if config.crop_size % multiple:
            raise ValueError(
                f"netG={hp.netG!r} takes images whose sides are multiples of {multiple}; "
                f"crop_size={config.crop_size} is not (e.g. --config.crop_size="
                f"{max(multiple, config.crop_size // multiple * multiple)})")
        return hp

    @property
    def batch_norm(self) -> bool:
        """Whether the networks have batch norms, with running statistics to carry."""
        return self.norm == "batch"

    @property
    def size_multiple(self) -> int:
        """What the training images' sides must be multiples of for the generator."""
        return 2 ** NET_G_DOWNS[self.netG] if self.netG in NET_G_DOWNS else 4

    @property
    def network_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(generators, discriminators) by their official names: G_A, G_B / D_A, D_B for
        CycleGAN, G / D for pix2pix."""
        if self.model == "pix2pix":
            return ("G",), ("D",)
        return ("G_A", "G_B"), ("D_A", "D_B")

    def input_channels(self, name: str) -> int:
        """The channels network `name` takes."""
        return {"G_A": self.input_nc, "G_B": self.output_nc, "D_A": self.output_nc,
                "D_B": self.input_nc, "G": self.input_nc,
                "D": self.input_nc + self.output_nc}[name]

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    def generator(self, input_nc: int, output_nc: int) -> ResnetGenerator | UnetGenerator:
        common = dict(ngf=self.ngf, input_nc=input_nc, output_nc=output_nc, norm=self.norm,
                      use_dropout=self.use_dropout, dtype=self.compute_dtype, conv=self.conv,
                      init_type=self.init_type, init_gain=self.init_gain)
        if self.netG in NET_G_DOWNS:
            return UnetGenerator(num_downs=NET_G_DOWNS[self.netG], **common)
        return ResnetGenerator(n_blocks=NET_G_BLOCKS[self.netG], remat=self.remat, **common)

    def discriminator(self, input_nc: int) -> PatchDiscriminator | PixelDiscriminator:
        common = dict(ndf=self.ndf, input_nc=input_nc, norm=self.norm, dtype=self.compute_dtype,
                      conv=self.conv, init_type=self.init_type, init_gain=self.init_gain)
        if self.netD == "pixel":
            return PixelDiscriminator(**common)
        return PatchDiscriminator(n_layers=3 if self.netD == "basic" else self.n_layers_D,
                                  **common)

    @property
    def G_A(self) -> ResnetGenerator | UnetGenerator:  # noqa: N802  (official network names)
        """A -> B."""
        return self.generator(self.input_nc, self.output_nc)

    @property
    def G_B(self) -> ResnetGenerator | UnetGenerator:  # noqa: N802
        """B -> A."""
        return self.generator(self.output_nc, self.input_nc)

    @property
    def D_A(self) -> PatchDiscriminator | PixelDiscriminator:  # noqa: N802
        """Judges domain B."""
        return self.discriminator(self.output_nc)

    @property
    def D_B(self) -> PatchDiscriminator | PixelDiscriminator:  # noqa: N802
        """Judges domain A."""
        return self.discriminator(self.input_nc)

    @property
    def G(self) -> ResnetGenerator | UnetGenerator:  # noqa: N802
        """pix2pix: input (A, or B with direction BtoA) -> target."""
        return self.generator(self.input_nc, self.output_nc)

    @property
    def D(self) -> PatchDiscriminator | PixelDiscriminator:  # noqa: N802
        """pix2pix: judges (input, output) pairs, concatenated along channels."""
        return self.discriminator(self.input_nc + self.output_nc)
