"""`HParams`: everything the jitted train step needs to know at trace time.

Architecture, loss weights, GAN mode, optimiser and schedule, numerics, conv layers. It
rides in `TrainState` as a static field, so `train_step(state, batch)` needs no config
and two states with equal hyperparameters share one compiled step. Built from a config
by `HParams.from_config`, where every value is checked once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.networks import PatchDiscriminator, ResnetGenerator
from cyclegan_jax.nn.norms import affine_norm
from cyclegan_jax.train.losses import GAN_MODES

NET_G_BLOCKS = {"resnet_9blocks": 9, "resnet_6blocks": 6}
NET_D = ("basic", "n_layers")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class HParams:
    """Static hyperparameters of a CycleGAN run (official option names where they exist)."""

    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    n_layers_D: int = 3
    norm: str = "instance"
    use_dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps: float = 1e-8
    n_epochs: int = 100
    n_epochs_decay: int = 100
    epoch_count: int = 1
    steps_per_epoch: int = 1334
    dtype: str = "float32"
    remat: bool = False
    conv: ConvLayers = ConvLayers()  # how the networks compute their convolutions

    def __post_init__(self):
        affine_norm(self.norm)  # raises for an unknown norm
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise ValueError(
                f"the identity loss needs input_nc == output_nc (got {self.input_nc} and "
                f"{self.output_nc}); set lambda_identity=0 for domains with different channels")

    @classmethod
    def from_config(cls, config: Any) -> HParams:
        """Reads the official option names off a config (see `configs/default.py`)."""
        if config.netG not in NET_G_BLOCKS:
            raise ValueError(f"netG must be one of {tuple(NET_G_BLOCKS)}, got {config.netG!r}")
        if config.netD not in NET_D:
            raise ValueError(f"netD must be one of {NET_D}, got {config.netD!r}")
        return cls(
            ngf=config.ngf, ndf=config.ndf, n_blocks=NET_G_BLOCKS[config.netG],
            n_layers_D=3 if config.netD == "basic" else config.n_layers_D, norm=config.norm,
            use_dropout=not config.no_dropout, input_nc=config.input_nc,
            output_nc=config.output_nc, gan_mode=config.gan_mode, lambda_A=config.lambda_A,
            lambda_B=config.lambda_B, lambda_identity=config.lambda_identity, lr=config.lr,
            beta1=config.beta1, n_epochs=config.n_epochs, n_epochs_decay=config.n_epochs_decay,
            epoch_count=config.epoch_count, steps_per_epoch=config.steps_per_epoch,
            dtype=config.dtype, remat=config.remat, conv=ConvLayers(config.conv_impl))

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    def generator(self, input_nc: int, output_nc: int) -> ResnetGenerator:
        return ResnetGenerator(ngf=self.ngf, n_blocks=self.n_blocks, input_nc=input_nc,
                               output_nc=output_nc, norm=self.norm, use_dropout=self.use_dropout,
                               dtype=self.compute_dtype, remat=self.remat, conv=self.conv)

    def discriminator(self, input_nc: int) -> PatchDiscriminator:
        return PatchDiscriminator(ndf=self.ndf, n_layers=self.n_layers_D, input_nc=input_nc,
                                  norm=self.norm, dtype=self.compute_dtype, conv=self.conv)

    @property
    def G_A(self) -> ResnetGenerator:  # noqa: N802  (official network names)
        """A -> B."""
        return self.generator(self.input_nc, self.output_nc)

    @property
    def G_B(self) -> ResnetGenerator:  # noqa: N802
        """B -> A."""
        return self.generator(self.output_nc, self.input_nc)

    @property
    def D_A(self) -> PatchDiscriminator:  # noqa: N802
        """Judges domain B."""
        return self.discriminator(self.output_nc)

    @property
    def D_B(self) -> PatchDiscriminator:  # noqa: N802
        """Judges domain A."""
        return self.discriminator(self.input_nc)
