"""The train state: four networks, two Adam states, two image pools, step and RNG.

`HParams` holds everything the jitted step needs to know at trace time
(architecture, loss weights, GAN mode, schedule). It rides in `TrainState` as a
static field, so `train_step(state, batch)` needs no config and two states with
equal hyperparameters share one compiled step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from cyclegan_jax import pool as pool_lib
from cyclegan_jax.conv import IMPLS
from cyclegan_jax.losses import GAN_MODES
from cyclegan_jax.models import NORMS, PatchDiscriminator, ResnetGenerator
from cyclegan_jax.optim import torch_adam

_NET_G_BLOCKS = {"resnet_9blocks": 9, "resnet_6blocks": 6}
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


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
    conv_impl: str = "auto"

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {tuple(_DTYPES)}, got {self.dtype!r}")
        if self.conv_impl not in IMPLS:
            raise ValueError(f"conv_impl must be one of {IMPLS}, got {self.conv_impl!r}")
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise ValueError(
                f"the identity loss needs input_nc == output_nc (got {self.input_nc} and "
                f"{self.output_nc}); set lambda_identity=0 for domains with different channels")

    @classmethod
    def from_config(cls, config: Any) -> "HParams":
        """Reads the official option names off a config (see `configs/default.py`)."""
        if config.netG not in _NET_G_BLOCKS:
            raise ValueError(f"netG must be one of {tuple(_NET_G_BLOCKS)}, got {config.netG!r}")
        if config.netD not in ("basic", "n_layers"):
            raise ValueError(f"netD must be 'basic' or 'n_layers', got {config.netD!r}")
        return cls(
            ngf=config.ngf, ndf=config.ndf, n_blocks=_NET_G_BLOCKS[config.netG],
            n_layers_D=3 if config.netD == "basic" else config.n_layers_D, norm=config.norm,
            use_dropout=not config.no_dropout, input_nc=config.input_nc,
            output_nc=config.output_nc, gan_mode=config.gan_mode, lambda_A=config.lambda_A,
            lambda_B=config.lambda_B, lambda_identity=config.lambda_identity, lr=config.lr,
            beta1=config.beta1, n_epochs=config.n_epochs, n_epochs_decay=config.n_epochs_decay,
            epoch_count=config.epoch_count, steps_per_epoch=config.steps_per_epoch,
            dtype=config.dtype, remat=config.remat,
            conv_impl=getattr(config, "conv_impl", "auto"))

    @property
    def compute_dtype(self):
        return _DTYPES[self.dtype]

    def generator(self, input_nc: int, output_nc: int) -> ResnetGenerator:
        return ResnetGenerator(ngf=self.ngf, n_blocks=self.n_blocks, input_nc=input_nc,
                               output_nc=output_nc, norm=self.norm, use_dropout=self.use_dropout,
                               dtype=self.compute_dtype, remat=self.remat,
                               conv_impl=self.conv_impl)

    def discriminator(self, input_nc: int) -> PatchDiscriminator:
        return PatchDiscriminator(ndf=self.ndf, n_layers=self.n_layers_D, input_nc=input_nc,
                                  norm=self.norm, dtype=self.compute_dtype,
                                  conv_impl=self.conv_impl)

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

    def optimizer(self) -> optax.GradientTransformation:
        """Adam's direction as PyTorch computes it; the step applies -`learning_rate`."""
        return torch_adam(b1=self.beta1, b2=self.beta2, eps=self.adam_eps)


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: one pytree, checkpointed whole."""

    step: jax.Array  # int32 scalar: iterations done
    params: dict  # {"G_A", "G_B", "D_A", "D_B"}
    opt_state_G: optax.OptState  # Adam over G_A + G_B
    opt_state_D: optax.OptState  # Adam over D_A + D_B
    pool_fake_A: pool_lib.ImagePool  # fakes from G_B, seen by D_B
    pool_fake_B: pool_lib.ImagePool  # fakes from G_A, seen by D_A
    rng: jax.Array  # uint32[2] raw key; the step folds in `step`
    hparams: HParams = flax.struct.field(pytree_node=False)


def learning_rate(hparams: HParams, step: jax.Array) -> jax.Array:
    """The official `linear` policy (reference §7) at iteration `step` (0-based).

    The official scheduler steps at the end of every epoch, so the epoch's factor is
    1 - max(0, epochs_done + epoch_count - n_epochs) / (n_epochs_decay + 1).
    """
    epochs_done = jnp.asarray(step) // hparams.steps_per_epoch
    decayed = jnp.maximum(0, epochs_done + hparams.epoch_count - hparams.n_epochs)
    factor = 1.0 - decayed.astype(jnp.float32) / (hparams.n_epochs_decay + 1)
    return hparams.lr * jnp.maximum(factor, 0.0)


def raw_key(rng: Any) -> jax.Array:
    """An int seed, typed key or raw key -> a raw uint32[2] key."""
    if isinstance(rng, int):
        return jax.random.PRNGKey(rng)
    if jnp.issubdtype(getattr(rng, "dtype", None), jax.dtypes.prng_key):
        return jax.random.key_data(rng)
    return jnp.asarray(rng, jnp.uint32)


def init_params(hparams: HParams, rng: jax.Array) -> dict:
    """Fresh params of the four networks, drawn with the official N(0, 0.02) init."""
    k_ga, k_gb, k_da, k_db = jax.random.split(rng, 4)
    size_d = max(64, 2 ** (hparams.n_layers_D + 3))

    def init(net, key, nc, size):
        return net.init(key, jnp.zeros((1, size, size, nc), net.dtype))["params"]

    return {
        "G_A": init(hparams.G_A, k_ga, hparams.input_nc, 16),
        "G_B": init(hparams.G_B, k_gb, hparams.output_nc, 16),
        "D_A": init(hparams.D_A, k_da, hparams.output_nc, size_d),
        "D_B": init(hparams.D_B, k_db, hparams.input_nc, size_d),
    }


def state_from_params(hparams: HParams, params: dict, rng: jax.Array, pool_size: int,
                      image_size: int) -> TrainState:
    """A train state at step 0 around given params: fresh Adam moments, empty pools."""
    tx = hparams.optimizer()
    pick = lambda names: {n: params[n] for n in names}  # noqa: E731
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state_G=tx.init(pick(("G_A", "G_B"))),
        opt_state_D=tx.init(pick(("D_A", "D_B"))),
        pool_fake_A=pool_lib.create_pool(pool_size, (image_size, image_size, hparams.input_nc)),
        pool_fake_B=pool_lib.create_pool(pool_size, (image_size, image_size, hparams.output_nc)),
        rng=rng,
        hparams=hparams,
    )


def create_train_state(config: Any, rng: Any) -> TrainState:
    """Builds the initial train state for `config` (see `configs/default.py`).

    Args:
      config: a ConfigDict (or any object) with the official option names.
      rng: an int seed or a `jax.random` key; it seeds the initialisation and, through
        the state's `rng`, every random draw of the train step.
    """
    hparams = HParams.from_config(config)
    key = raw_key(rng)
    k_init, k_step = jax.random.split(key)

    @jax.jit
    def build(k_init, k_step):
        return state_from_params(hparams, init_params(hparams, k_init), k_step,
                                 config.pool_size, config.crop_size)

    return build(k_init, k_step)
