"""One official CycleGAN iteration (reference §5) as a single jitted function.

Order, as `CycleGANModel.optimize_parameters`: the generators' forward pass once;
the generator update through the frozen (pre-update) discriminators; then the
discriminator update on this iteration's pre-update fakes drawn through the pools.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from cyclegan_jax import pool as pool_lib
from cyclegan_jax.conv import conv_form
from cyclegan_jax.losses import discriminator_gan_loss, gan_loss, l1
from cyclegan_jax.state import HParams, TrainState, learning_rate

METRIC_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


def _together(net: Callable[[jax.Array], jax.Array], *xs: jax.Array) -> tuple[jax.Array, ...]:
    """(net(x) for x in xs) from one call of `net` on the xs interleaved (x_0, y_0, ...,
    x_1, y_1, ...: each device's samples stay on it).

    Every layer of these networks is per sample, so the values are those of separate
    calls up to float rounding (the matrix products may sum in another order), and the
    products k times as tall run closer to the machine's peak.
    """
    out = net(jnp.stack(xs, axis=1).reshape((-1,) + xs[0].shape[1:]))
    out = out.reshape((xs[0].shape[0], len(xs)) + out.shape[1:])
    return tuple(out[:, i] for i in range(len(xs)))


# With the CPU's matrix-product conv forms ("matmul", what conv_impl "auto" picks on
# CPU), at most this many pixels (images x H x W) per generator call. Joining G_A's
# three images into one call took the 2-core step 5.5 % faster at 64^2 (20 alternated
# pairs), but 3.5-10 % slower at 128^2 (16 pairs, twice), where the joined activations
# ran slower per element in nearly every elementwise fusion (a one-core profile). Pairs
# at 128^2 give the residual convs F(4x4, 3x3) (`conv._conv_in_form`).
_CPU_PIXELS_PER_CALL = 2 * 128 * 128


def _images_per_call(shape: tuple[int, ...], conv_impl: str) -> int:
    """How many of the generator's [N, H, W, C] batches `generator_loss` joins per call:
    all (3), or, where `conv_impl` means the matrix-product forms (`conv.conv_form`), as
    many as `_CPU_PIXELS_PER_CALL` allows (at least 1). (Decided by the conv form, not
    by JAX's default backend, so that a step compiled for a GPU on a machine without one,
    `benchmarks/gpu_hlo.py`, is the GPU's step.)"""
    if conv_form(conv_impl) != "matmul":
        return 3
    return max(1, _CPU_PIXELS_PER_CALL // (shape[0] * shape[1] * shape[2]))


def generator_loss(g_params: dict, d_params: dict, real_A: jax.Array, real_B: jax.Array,
                   hparams: HParams, dropout_key: jax.Array | None = None):
    """The summed generator loss `loss_G` of `backward_G` (reference §4).

    Args:
      g_params: {"G_A", "G_B"} params; the loss is differentiated with respect to these.
      d_params: {"D_A", "D_B"} params, held fixed.
      real_A, real_B: NHWC batches in [-1, 1].
      hparams: the run's hyperparameters.
      dropout_key: needed only when the generators use dropout.

    Returns:
      (loss_G, (terms, images)) with the six generator terms named as the official
      logs and the generated images fake_B, rec_A, fake_A, rec_B (and idt_A, idt_B).
    """
    keys = iter(jax.random.split(dropout_key, 6) if hparams.use_dropout else [None] * 6)

    def run(name, *xs):
        rngs = {"dropout": next(keys)} if hparams.use_dropout else None
        net = functools.partial(getattr(hparams, name).apply, {"params": g_params[name]},
                                train=True, rngs=rngs)
        return _together(net, *xs)

    def judge(name, x):
        return getattr(hparams, name).apply({"params": d_params[name]}, x)

    images, terms = {}, {}
    per_call = _images_per_call(real_A.shape, hparams.conv_impl)

    def run_all(name, inputs):  # {image name: its input}, in as few calls as allowed
        names = list(inputs)
        for i in range(0, len(names), per_call):
            chunk = names[i:i + per_call]
            images.update(zip(chunk, run(name, *(inputs[n] for n in chunk))))

    # fake_A first, then every G_A image (fake_A's cycle included), then the rest of G_B's.
    identity = hparams.lambda_identity > 0
    (images["fake_A"],) = run("G_B", real_B)
    run_all("G_A", {"fake_B": real_A, "rec_B": images["fake_A"]}
            | ({"idt_A": real_B} if identity else {}))
    run_all("G_B", {"rec_A": images["fake_B"]} | ({"idt_B": real_A} if identity else {}))
    if identity:  # idt_A = G_A(real_B), idt_B = G_B(real_A)
        terms["idt_A"] = l1(images["idt_A"], real_B) * hparams.lambda_B * hparams.lambda_identity
        terms["idt_B"] = l1(images["idt_B"], real_A) * hparams.lambda_A * hparams.lambda_identity
    else:
        terms["idt_A"] = terms["idt_B"] = jnp.zeros((), jnp.float32)
    terms["G_A"] = gan_loss(judge("D_A", images["fake_B"]), True, hparams.gan_mode)
    terms["G_B"] = gan_loss(judge("D_B", images["fake_A"]), True, hparams.gan_mode)
    terms["cycle_A"] = l1(images["rec_A"], real_A) * hparams.lambda_A
    terms["cycle_B"] = l1(images["rec_B"], real_B) * hparams.lambda_B
    return sum(terms.values()), (terms, images)


def discriminator_loss(d_params: dict, real_A: jax.Array, real_B: jax.Array,
                       fake_A: jax.Array, fake_B: jax.Array, hparams: HParams):
    """loss_D_A + loss_D_B of `backward_D_A`/`backward_D_B` (each already x 0.5).

    `fake_A`/`fake_B` are the (pooled) fakes. D_A judges real B against fake B; D_B
    judges real A against fake A, each in one call on both batches (`_together`).
    Returns (sum, {"D_A", "D_B"}).
    """
    def judge(name, real, fake):
        net = functools.partial(getattr(hparams, name).apply, {"params": d_params[name]})
        return discriminator_gan_loss(*_together(net, real, fake), hparams.gan_mode)

    terms = {"D_A": judge("D_A", real_B, fake_B), "D_B": judge("D_B", real_A, fake_A)}
    return terms["D_A"] + terms["D_B"], terms


def _adam_step(hparams: HParams, params: dict, grads: dict, opt_state, lr: jax.Array):
    updates, opt_state = hparams.optimizer().update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    return params, opt_state


def _pick(params: dict, names: tuple[str, str]) -> dict:
    return {n: params[n] for n in names}


@functools.partial(jax.jit, donate_argnums=0)
def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One CycleGAN iteration: generator update, then discriminator update.

    Args:
      state: the train state; its buffers are donated (do not use it afterwards).
      batch: {"A": [N, H, W, input_nc], "B": [N, H, W, output_nc]}, float32 in [-1, 1].
        Shard it over a `data` mesh axis (see `sharding.py`) to run data-parallel.

    Returns:
      (new_state, metrics): metrics are the official loss names D_A, G_A, cycle_A,
      idt_A, D_B, G_B, cycle_B, idt_B (float32 scalars, on device).
    """
    hp = state.hparams
    real_A, real_B = batch["A"], batch["B"]
    key = jax.random.fold_in(state.rng, state.step)
    k_dropout, k_pool_A, k_pool_B = jax.random.split(key, 3)
    lr = learning_rate(hp, state.step)

    g_params = _pick(state.params, ("G_A", "G_B"))
    d_params = _pick(state.params, ("D_A", "D_B"))
    (_, (terms_G, images)), grads_G = jax.value_and_grad(generator_loss, has_aux=True)(
        g_params, d_params, real_A, real_B, hp, k_dropout)
    g_params, opt_state_G = _adam_step(hp, g_params, grads_G, state.opt_state_G, lr)

    pool_fake_A, fake_A = pool_lib.query(state.pool_fake_A, images["fake_A"], k_pool_A)
    pool_fake_B, fake_B = pool_lib.query(state.pool_fake_B, images["fake_B"], k_pool_B)
    (_, terms_D), grads_D = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, real_A, real_B, fake_A, fake_B, hp)
    d_params, opt_state_D = _adam_step(hp, d_params, grads_D, state.opt_state_D, lr)

    new_state = state.replace(
        step=state.step + 1, params={**g_params, **d_params}, opt_state_G=opt_state_G,
        opt_state_D=opt_state_D, pool_fake_A=pool_fake_A, pool_fake_B=pool_fake_B)
    metrics = {name: {**terms_G, **terms_D}[name] for name in METRIC_NAMES}
    return new_state, metrics
