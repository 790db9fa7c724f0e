"""The train state: the networks (CycleGAN's four, pix2pix's two) and their batch norms'
running statistics, two Adam states, two image pools, step and RNG key."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from cyclegan_jax.train import pool as pool_lib
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.optimizer import adam


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: one pytree, checkpointed whole."""

    step: jax.Array  # int32 scalar: iterations done
    params: dict  # {"G_A", "G_B", "D_A", "D_B"}; pix2pix: {"G", "D"}
    opt_state_G: optax.OptState  # Adam over the generators
    opt_state_D: optax.OptState  # Adam over the discriminators
    pool_fake_A: pool_lib.ImagePool  # fakes from G_B, seen by D_B (pix2pix: size 0)
    pool_fake_B: pool_lib.ImagePool  # fakes from G_A, seen by D_A (pix2pix: size 0)
    rng: jax.Array  # uint32[2] raw key; the step folds in `step`
    # {"G_A", ...: running statistics} with batch norm (`hparams.batch_norm`), else {}: no
    # arrays, so the checkpoints of runs without batch norm keep their layout.
    batch_stats: dict
    hparams: HParams = flax.struct.field(pytree_node=False)

    def network_variables(self) -> dict:
        """{"G_A", "G_B", "D_A", "D_B"} (pix2pix: {"G", "D"}): each network's params, or with batch norm
        `{"params": ..., "batch_stats": ...}`, as `translate` and `discriminate` take them."""
        return variables_of(self.params, self.batch_stats)


def variables_of(params: dict, batch_stats: dict) -> dict:
    """Each network's params, or `{"params", "batch_stats"}` for those with running statistics."""
    return {n: {"params": p, "batch_stats": batch_stats[n]} if n in batch_stats else p
            for n, p in params.items()}


def raw_key(rng: Any) -> jax.Array:
    """An int seed, typed key or raw key -> a raw uint32[2] key."""
    if isinstance(rng, int):
        return jax.random.PRNGKey(rng)
    if jnp.issubdtype(getattr(rng, "dtype", None), jax.dtypes.prng_key):
        return jax.random.key_data(rng)
    return jnp.asarray(rng, jnp.uint32)


def init_variables(hparams: HParams, rng: jax.Array) -> tuple[dict, dict]:
    """Fresh (params, batch_stats) of the run's networks (`HParams.network_names`), drawn
    with the run's init type; batch_stats is {} without batch norm."""
    generators, discriminators = hparams.network_names
    names = generators + discriminators
    # CycleGAN splits into four keys in the order G_A, G_B, D_A, D_B; pix2pix into two.
    keys = dict(zip(names, jax.random.split(rng, len(names))))
    size_g = max(16, hparams.size_multiple)
    size_d = max(64, 2 ** (hparams.n_layers_D + 3))
    variables = {}
    for name in names:
        net, size = getattr(hparams, name), size_g if name in generators else size_d
        shape = (1, size, size, hparams.input_channels(name))
        variables[name] = net.init(keys[name], jnp.zeros(shape, net.dtype))
    params = {n: v["params"] for n, v in variables.items()}
    batch_stats = {n: v["batch_stats"] for n, v in variables.items() if "batch_stats" in v}
    return params, batch_stats


def init_params(hparams: HParams, rng: jax.Array) -> dict:
    """Fresh params of the four networks (`init_variables` without the running statistics)."""
    return init_variables(hparams, rng)[0]


def state_from_params(hparams: HParams, params: dict, rng: jax.Array, pool_size: int,
                      image_size: int, batch_stats: dict | None = None) -> TrainState:
    """A train state at step 0 around given params (and, with batch norm, running
    statistics: fresh ones, mean 0 and variance 1, if not given): fresh Adam moments,
    empty pools (of size 0 for pix2pix, which has none, as upstream)."""
    tx = adam(hparams)
    pick = lambda names: {n: params[n] for n in names}  # noqa: E731
    generators, discriminators = hparams.network_names
    if hparams.model == "pix2pix":
        pool_size = 0
    if batch_stats is None:
        batch_stats = init_variables(hparams, jax.random.key(0))[1]  # only shapes and 0/1 fills
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state_G=tx.init(pick(generators)),
        opt_state_D=tx.init(pick(discriminators)),
        pool_fake_A=pool_lib.create_pool(pool_size, (image_size, image_size, hparams.input_nc)),
        pool_fake_B=pool_lib.create_pool(pool_size, (image_size, image_size, hparams.output_nc)),
        rng=rng,
        batch_stats=batch_stats,
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
    k_init, k_step = jax.random.split(raw_key(rng))

    @jax.jit
    def build(k_init, k_step):
        params, batch_stats = init_variables(hparams, k_init)
        return state_from_params(hparams, params, k_step, config.pool_size, config.crop_size,
                                 batch_stats)

    return build(k_init, k_step)
