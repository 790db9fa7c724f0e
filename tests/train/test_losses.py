"""GAN, cycle and identity loss terms against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from cyclegan_jax.train.losses import discriminator_gan_loss, gan_loss, l1

PRED = np.array([[[[0.3], [-1.2]], [[2.0], [0.0]]]], np.float32)  # [1, 2, 2, 1]


def test_lsgan_is_mse_against_one_and_zero():
    assert float(gan_loss(PRED, True, "lsgan")) == pytest.approx(np.mean((PRED - 1) ** 2))
    assert float(gan_loss(PRED, False, "lsgan")) == pytest.approx(np.mean(PRED ** 2))


def test_vanilla_is_bce_on_logits():
    sig = 1 / (1 + np.exp(-PRED.astype(np.float64)))
    assert float(gan_loss(PRED, True, "vanilla")) == pytest.approx(np.mean(-np.log(sig)), rel=1e-6)
    assert float(gan_loss(PRED, False, "vanilla")) == pytest.approx(np.mean(-np.log(1 - sig)), rel=1e-6)


def test_wgan_signs():
    assert float(gan_loss(PRED, True, "wgangp")) == pytest.approx(-PRED.mean())
    assert float(gan_loss(PRED, False, "wgangp")) == pytest.approx(PRED.mean())


def test_unknown_gan_mode():
    with pytest.raises(ValueError, match="gan_mode must be one of"):
        gan_loss(PRED, True, "hinge")


def test_discriminator_loss_is_halved():
    real, fake = PRED, PRED * 0.5
    expected = 0.5 * (np.mean((real - 1) ** 2) + np.mean(fake ** 2))
    assert float(discriminator_gan_loss(real, fake, "lsgan")) == pytest.approx(expected)


def test_l1_is_mean_absolute_error():
    x = np.array([1.0, -2.0, 0.5], np.float32)
    assert float(l1(x, np.zeros(3, np.float32))) == pytest.approx(3.5 / 3)
