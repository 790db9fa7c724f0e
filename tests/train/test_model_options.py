"""train_and_evaluate with the official model options beyond the defaults: a U-Net
generator with batch norm, the PixelGAN, another init and learning-rate policy, resumed
exactly (running statistics included) and evaluated; and option values or combinations
the official code cannot build, refused before anything compiles."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from PIL import Image

import cyclegan_jax
from cyclegan_jax.errors import UserError
from cyclegan_jax.eval.runner import EvalOptions, evaluate_run
from cyclegan_jax.train import loop
from tests import helpers

pytestmark = pytest.mark.usefixtures("fast_compile")

OPTIONS = dict(netG="unet_128", netD="pixel", norm="batch", init_type="xavier", init_gain=0.5,
               lr_policy="step", lr_decay_iters=1, ngf=4, ndf=4, crop_size=128, load_size=128,
               synthetic_image_size=128, lambda_identity=0.0)


def test_unet_batchnorm_pixelgan_run_resumes_exactly_and_evaluates(tmp_path):
    straight = loop.train_and_evaluate(helpers.train_config(**OPTIONS), str(tmp_path / "a"))
    assert int(straight.step) == 6
    assert set(straight.batch_stats) == {"G_A", "G_B", "D_A", "D_B"}
    # the running statistics moved away from their 0 / 1 start
    assert not np.allclose(jax.tree.leaves(straight.batch_stats["G_A"])[0], 0)

    workdir = str(tmp_path / "b")
    loop.train_and_evaluate(helpers.train_config(num_train_steps=4, **OPTIONS), workdir)
    resumed = loop.train_and_evaluate(helpers.train_config(**OPTIONS), workdir)
    assert helpers.params_equal(resumed.params, straight.params)
    assert helpers.params_equal(resumed.batch_stats, straight.batch_stats)

    variables = cyclegan_jax.load_params(workdir)
    assert set(variables["G_A"]) == {"params", "batch_stats"}
    assert helpers.params_equal(variables["G_A"]["batch_stats"], straight.batch_stats["G_A"])
    # step policy, lr_decay_iters 1 epoch, 3 steps per epoch: 2e-4 then 2e-5
    assert float(cyclegan_jax.learning_rate(straight.hparams, 3)) == pytest.approx(2e-5)

    fakes = []
    for eval_mode in (False, True):  # eval.py without and with the official --eval
        out = tmp_path / f"eval_{eval_mode}"
        metrics, _ = evaluate_run(workdir, options=EvalOptions(max_images=1, eval_mode=eval_mode),
                                  output_dir=str(out))
        assert np.isfinite(metrics["cycle_l1_A"])
        fakes.append(np.asarray(Image.open(next(out.rglob("*fake_B*.png")))))
    assert fakes[0].shape == fakes[1].shape == (128, 128, 3)
    assert not np.array_equal(*fakes)  # batch versus running statistics


@pytest.mark.parametrize("overrides,match", [
    (dict(netG="unet_256"), r"multiples of 256; crop_size=32"),
    (dict(netG="resnet_12blocks"), r"netG must be one of .*'unet_256'"),
    (dict(netD="patch"), r"netD must be one of .*'pixel'"),
    (dict(norm="group"), r"norm must be one of .*'batch'"),
    (dict(init_type="uniform"), r"init_type must be one of"),
    (dict(lr_policy="exponential"), r"lr_policy must be one of"),
    (dict(crop_size=48, load_size=40), r"crop_size=48 is larger than load_size=40"),
])
def test_bad_options_are_refused_naming_the_field(tmp_path, overrides, match):
    with pytest.raises(UserError, match=match):
        loop.train_and_evaluate(helpers.train_config(**overrides), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")
