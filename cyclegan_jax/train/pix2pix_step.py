"""One official pix2pix iteration as a single jitted function.

The order of the official `Pix2PixModel.optimize_parameters` (`models/pix2pix_model.py`):
the generator's forward pass once, fake_B = G(A); the discriminator update on
(A, fake_B) detached and on (A, B); then the generator update, GAN loss through the
*updated* discriminator plus lambda_L1 * |fake_B - B|, back-propagated through that same
forward pass (its dropout masks and batch statistics). The discriminator is conditional:
it sees input and output concatenated along channels.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from cyclegan_jax.train import batching
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.losses import gan_loss, l1
from cyclegan_jax.train.optimizer import learning_rate
from cyclegan_jax.train.state import TrainState
from cyclegan_jax.train.updates import Networks, adam_step

METRIC_NAMES = ("G_GAN", "G_L1", "D_real", "D_fake")


def _pair(real_A: jax.Array, image_B: jax.Array) -> jax.Array:
    """torch.cat((real_A, image_B), 1) in NHWC."""
    return jnp.concatenate([real_A, image_B.astype(real_A.dtype)], axis=-1)


def discriminator_loss(d_params: dict, real_A: jax.Array, real_B: jax.Array,
                       fake_B: jax.Array, hparams: HParams, batch_stats: dict):
    """`loss_D` of the official `backward_D`: 0.5 * (GAN(D(A, fake_B), fake) + GAN(D(A, B),
    real)), fake first. With batch norm the two pairs go in two calls, fake then real, each
    with its own batch statistics; otherwise in one. Returns
    (loss_D, ({"D_real", "D_fake"}, moved batch_stats)); `fake_B` carries no gradient."""
    nets = Networks(hparams, {"D": d_params}, batch_stats)
    fake_AB = _pair(real_A, jax.lax.stop_gradient(fake_B))
    real_AB = _pair(real_A, real_B)
    if hparams.batch_norm:
        pred_fake = nets("D", fake_AB)
        pred_real = nets("D", real_AB)
    else:
        pred_fake, pred_real = batching.together(functools.partial(nets, "D"), fake_AB, real_AB)
    terms = {"D_fake": gan_loss(pred_fake, False, hparams.gan_mode),
             "D_real": gan_loss(pred_real, True, hparams.gan_mode)}
    return 0.5 * (terms["D_fake"] + terms["D_real"]), (terms, nets.batch_stats)


def generator_loss(fake_B: jax.Array, d_params: dict, real_A: jax.Array, real_B: jax.Array,
                   hparams: HParams, batch_stats: dict):
    """`loss_G` of the official `backward_G` as a function of the generator's output:
    GAN(D(A, fake_B), real) + lambda_L1 * |fake_B - B|. Returns
    (loss_G, ({"G_GAN", "G_L1"}, moved batch_stats))."""
    nets = Networks(hparams, {"D": d_params}, batch_stats)
    terms = {"G_GAN": gan_loss(nets("D", _pair(real_A, fake_B)), True, hparams.gan_mode),
             "G_L1": l1(fake_B, real_B) * hparams.lambda_L1}
    return terms["G_GAN"] + terms["G_L1"], (terms, nets.batch_stats)


@functools.partial(jax.jit, donate_argnums=0)
def pix2pix_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One pix2pix iteration: discriminator update, then generator update.

    Args:
      state: a pix2pix train state (`model="pix2pix"`); its buffers are donated.
      batch: {"A": input [N, H, W, input_nc], "B": target [N, H, W, output_nc]}, float32
        in [-1, 1], already swapped for direction BtoA (as the official `set_input`).

    Returns:
      (new_state, metrics): the official loss names G_GAN, G_L1, D_real, D_fake.
    """
    hp = state.hparams
    real_A, real_B = batch["A"], batch["B"]
    key = jax.random.fold_in(state.rng, state.step)
    lr = learning_rate(hp, state.step)
    stats = state.batch_stats

    def forward(g_params):  # forward(): fake_B = G(A), once, in train mode
        nets = Networks(hp, {"G": g_params}, stats)
        rngs = {"dropout": key} if hp.use_dropout else None
        return nets("G", real_A, train=True, rngs=rngs), nets.batch_stats

    fake_B, pull_back, stats = jax.vjp(forward, state.params["G"], has_aux=True)

    (_, (terms_D, stats)), grads_D = jax.value_and_grad(discriminator_loss, has_aux=True)(
        state.params["D"], real_A, real_B, fake_B, hp, stats)
    d_params, opt_state_D = adam_step(hp, {"D": state.params["D"]}, {"D": grads_D},
                                      state.opt_state_D, lr)

    (_, (terms_G, stats)), grad_fake = jax.value_and_grad(generator_loss, has_aux=True)(
        fake_B, d_params["D"], real_A, real_B, hp, stats)
    (grads_G,) = pull_back(grad_fake)
    g_params, opt_state_G = adam_step(hp, {"G": state.params["G"]}, {"G": grads_G},
                                      state.opt_state_G, lr)

    new_state = state.replace(step=state.step + 1, params={**g_params, **d_params},
                              opt_state_G=opt_state_G, opt_state_D=opt_state_D,
                              batch_stats=stats)
    metrics = {name: {**terms_G, **terms_D}[name] for name in METRIC_NAMES}
    return new_state, metrics
