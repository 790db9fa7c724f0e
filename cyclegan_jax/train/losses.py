"""CycleGAN's loss terms: the official `GANLoss` (`models/networks.py`), cycle and identity L1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

GAN_MODES = ("lsgan", "vanilla", "wgangp")


def gan_loss(prediction: jax.Array, target_is_real: bool, gan_mode: str) -> jax.Array:
    """The official `GANLoss` on a patch-score map, averaged over every element.

    lsgan: MSE against 1 (real) or 0 (fake). vanilla: BCE on logits against 1 or 0.
    wgangp: -mean for real, +mean for fake (the official CycleGAN never adds the
    gradient penalty, so neither do we).
    """
    prediction = prediction.astype(jnp.float32)
    target = 1.0 if target_is_real else 0.0
    if gan_mode == "lsgan":
        return jnp.mean(jnp.square(prediction - target))
    if gan_mode == "vanilla":
        labels = jnp.full_like(prediction, target)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(prediction, labels))
    if gan_mode == "wgangp":
        return -jnp.mean(prediction) if target_is_real else jnp.mean(prediction)
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")


def l1(x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean absolute error over all elements (`torch.nn.L1Loss`)."""
    return jnp.mean(jnp.abs(x.astype(jnp.float32) - y.astype(jnp.float32)))


def discriminator_gan_loss(pred_real: jax.Array, pred_fake: jax.Array, gan_mode: str) -> jax.Array:
    """0.5 * (GAN(D(real), real) + GAN(D(fake), fake)), as `backward_D_basic`."""
    return 0.5 * (gan_loss(pred_real, True, gan_mode) + gan_loss(pred_fake, False, gan_mode))
