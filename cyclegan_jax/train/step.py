"""One official CycleGAN iteration as a single jitted function.

The order of the official `CycleGANModel.optimize_parameters` (`models/cycle_gan_model.py`):
the generators' forward pass once; the generator update through the pre-update
discriminators; then the discriminator update on this iteration's pre-update fakes,
drawn through the image pools.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from cyclegan_jax.train import batching
from cyclegan_jax.train import pool as pool_lib
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.losses import discriminator_gan_loss, gan_loss, l1
from cyclegan_jax.train.optimizer import learning_rate
from cyclegan_jax.train.state import TrainState
from cyclegan_jax.train.updates import Networks, adam_step, pick

METRIC_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


def generator_loss(g_params: dict, d_params: dict, real_A: jax.Array, real_B: jax.Array,
                   hparams: HParams, dropout_key: jax.Array | None = None,
                   batch_stats: dict | None = None):
    """`loss_G` of the official `backward_G`, summed over its six terms.

    Args:
      g_params: {"G_A", "G_B"} params; the loss is differentiated with respect to these.
      d_params: {"D_A", "D_B"} params, held fixed.
      real_A, real_B: NHWC batches in [-1, 1].
      hparams: the run's hyperparameters.
      dropout_key: needed only when the generators use dropout.
      batch_stats: with batch norm, the four networks' running statistics
        (`TrainState.batch_stats`), moved by this loss's calls as the official train mode
        moves them (the discriminators' too: their calls here run in train mode upstream).

    Returns:
      (loss_G, (terms, images)): the six terms named as the official logs, and fake_B,
      rec_A, fake_A, rec_B (and idt_A, idt_B with the identity loss); with `batch_stats`
      given, (loss_G, (terms, images, moved batch_stats)).
    """
    hp = hparams
    identity = hp.lambda_identity > 0
    dropout_keys = iter(jax.random.split(dropout_key, 6)) if hp.use_dropout else None
    nets = Networks(hp, {**g_params, **d_params}, batch_stats)

    def generator(name, per_call):  # runs its images in as few calls as allowed (`batching.joined`)
        def net(x):
            rngs = {"dropout": next(dropout_keys)} if hp.use_dropout else None
            return nets(name, x, train=True, rngs=rngs)
        return batching.joined(net, per_call)

    if hp.batch_norm:
        # One call per batch, in the official order (forward(), then backward_G's identity
        # passes): each normalises by its own batch's statistics and moves the running
        # statistics, so calls cannot be joined.
        G_A, G_B = generator("G_A", 1), generator("G_B", 1)
        (fake_B,) = G_A(real_A)
        (rec_A,) = G_B(fake_B)
        (fake_A,) = G_B(real_B)
        (rec_B,) = G_A(fake_A)
        idt_A, idt_B = (G_A(real_B)[0], G_B(real_A)[0]) if identity else (None, None)
    else:
        per_call = batching.images_per_call(real_A.shape, hp.conv)
        G_A, G_B = generator("G_A", per_call), generator("G_B", per_call)
        # forward(): fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A);
        # backward_G's identity passes: idt_A = G_A(B), idt_B = G_B(A). Grouped by generator.
        (fake_A,) = G_B(real_B)
        fake_B, rec_B, idt_A = G_A(real_A, fake_A, real_B if identity else None)
        rec_A, idt_B = G_B(fake_B, real_A if identity else None)

    no_identity = jnp.zeros((), jnp.float32)
    terms = {
        "G_A": gan_loss(nets("D_A", fake_B), True, hp.gan_mode),  # GAN loss D_A(G_A(A))
        "G_B": gan_loss(nets("D_B", fake_A), True, hp.gan_mode),  # GAN loss D_B(G_B(B))
        "cycle_A": l1(rec_A, real_A) * hp.lambda_A,  # forward cycle loss |G_B(G_A(A)) - A|
        "cycle_B": l1(rec_B, real_B) * hp.lambda_B,  # backward cycle loss |G_A(G_B(B)) - B|
        # Identity losses |G_A(B) - B| and |G_B(A) - A|: idt_A is weighted by lambda_B.
        "idt_A": l1(idt_A, real_B) * hp.lambda_B * hp.lambda_identity if identity else no_identity,
        "idt_B": l1(idt_B, real_A) * hp.lambda_A * hp.lambda_identity if identity else no_identity,
    }
    images = {"fake_B": fake_B, "rec_A": rec_A, "fake_A": fake_A, "rec_B": rec_B}
    if identity:
        images |= {"idt_A": idt_A, "idt_B": idt_B}
    if batch_stats is None:
        return sum(terms.values()), (terms, images)
    return sum(terms.values()), (terms, images, nets.batch_stats)


def discriminator_loss(d_params: dict, real_A: jax.Array, real_B: jax.Array,
                       fake_A: jax.Array, fake_B: jax.Array, hparams: HParams,
                       batch_stats: dict | None = None):
    """loss_D_A + loss_D_B of the official `backward_D_A` / `backward_D_B` (each x 0.5).

    `fake_A` / `fake_B` are the (pooled) fakes. D_A judges real B against fake B, D_B
    real A against fake A, each in one call on both batches; with batch norm in two calls,
    real then fake, each with its own batch statistics, as upstream. Returns
    (sum, {"D_A", "D_B"}); with `batch_stats` (see `generator_loss`) given,
    (sum, ({"D_A", "D_B"}, moved batch_stats)).
    """
    nets = Networks(hparams, d_params, batch_stats)

    def judge(name, real, fake):
        net = functools.partial(nets, name)
        if hparams.batch_norm:
            predictions = net(real), net(fake)
        else:
            predictions = batching.together(net, real, fake)
        return discriminator_gan_loss(*predictions, hparams.gan_mode)

    terms = {"D_A": judge("D_A", real_B, fake_B), "D_B": judge("D_B", real_A, fake_A)}
    if batch_stats is None:
        return terms["D_A"] + terms["D_B"], terms
    return terms["D_A"] + terms["D_B"], (terms, nets.batch_stats)


@functools.partial(jax.jit, donate_argnums=0)
def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One CycleGAN iteration: generator update, then discriminator update.

    Args:
      state: the train state; its buffers are donated (do not use it afterwards).
      batch: {"A": [N, H, W, input_nc], "B": [N, H, W, output_nc]}, float32 in [-1, 1].
        Shard it over a `data` mesh axis (`train.sharding`) to run data-parallel.

    Returns:
      (new_state, metrics): metrics are the official loss names D_A, G_A, cycle_A,
      idt_A, D_B, G_B, cycle_B, idt_B (float32 scalars, on device).
    """
    hp = state.hparams
    real_A, real_B = batch["A"], batch["B"]
    key = jax.random.fold_in(state.rng, state.step)
    k_dropout, k_pool_A, k_pool_B = jax.random.split(key, 3)
    lr = learning_rate(hp, state.step)

    g_params = pick(state.params, ("G_A", "G_B"))
    d_params = pick(state.params, ("D_A", "D_B"))
    (_, (terms_G, images, batch_stats)), grads_G = jax.value_and_grad(
        generator_loss, has_aux=True)(g_params, d_params, real_A, real_B, hp, k_dropout,
                                      state.batch_stats)
    g_params, opt_state_G = adam_step(hp, g_params, grads_G, state.opt_state_G, lr)

    pool_fake_A, fake_A = pool_lib.query(state.pool_fake_A, images["fake_A"], k_pool_A)
    pool_fake_B, fake_B = pool_lib.query(state.pool_fake_B, images["fake_B"], k_pool_B)
    (_, (terms_D, batch_stats)), grads_D = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, real_A, real_B, fake_A, fake_B, hp, batch_stats)
    d_params, opt_state_D = adam_step(hp, d_params, grads_D, state.opt_state_D, lr)

    new_state = state.replace(
        step=state.step + 1, params={**g_params, **d_params}, opt_state_G=opt_state_G,
        opt_state_D=opt_state_D, pool_fake_A=pool_fake_A, pool_fake_B=pool_fake_B,
        batch_stats=batch_stats)
    metrics = {name: {**terms_G, **terms_D}[name] for name in METRIC_NAMES}
    return new_state, metrics
