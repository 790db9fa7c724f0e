"""The import paths of the flat layout (`cyclegan_jax.models`, ...) and the package's
top-level names still give the library's objects."""

from __future__ import annotations

import importlib

import pytest

import cyclegan_jax

# Old module path -> names users' code may import from it.
LEGACY = {
    "models": ("ResnetGenerator", "PatchDiscriminator", "InstanceNorm", "conv_init",
               "generator_from_params", "moments", "instance_norm_relu"),
    "conv": ("conv2d", "upsample2x", "pad2d", "winograd_conv3x3", "s2d_conv", "Conv",
             "UpsampleConv", "IMPLS", "conv_form"),
    "losses": ("gan_loss", "l1", "discriminator_gan_loss", "GAN_MODES"),
    "pool": ("ImagePool", "create_pool", "query"),
    "optim": ("torch_adam",),
    "state": ("HParams", "TrainState", "create_train_state", "learning_rate", "init_params",
              "state_from_params", "raw_key"),
    "step": ("train_step", "generator_loss", "discriminator_loss", "METRIC_NAMES"),
    "sharding": ("data_mesh", "replicate", "shard_batch", "check_batch_size", "prefetch_to_mesh"),
    "checkpointing": ("Checkpoints", "load_params", "restore_params", "load_config",
                      "save_config", "all_finite"),
    "training": ("train_and_evaluate", "NonFiniteError", "total_steps"),
    "inference": ("translate", "translate_canvas", "float_to_uint8", "uint8_to_float",
                  "bucket_side", "pad_to"),
    "evaluation": ("ground_truth_mae", "abs_error_sum"),
    "eval_run": ("evaluate_run", "translate_folder", "EvalOptions"),
    "results_page": ("write_index",),
    "inception": ("pool3_features", "load_params", "params_from_state_dict"),
    "fid": ("fid", "kid", "frechet_distance"),
    "samples": ("sample_grid", "save_png", "rgb_uint8"),
    "metric_writer": ("MetricWriter",),
    "torch_import": ("params_from_state_dict", "load_pth", "StateDictError", "PthError",
                     "network_for", "describe"),
    "pth_reader": ("load_pth", "PthError"),
    "official_import": ("import_checkpoint", "load_generator", "save_generator", "official_files"),
}


@pytest.mark.parametrize("old", sorted(LEGACY))
def test_old_module_paths_import_the_moved_objects(old):
    module = importlib.import_module(f"cyclegan_jax.{old}")
    for name in LEGACY[old]:
        obj = getattr(module, name)
        home = getattr(obj, "__module__", None)
        if home is not None and home.startswith("cyclegan_jax"):  # defined in the library
            assert importlib.import_module(home).__file__ != module.__file__, (old, name)
            assert getattr(importlib.import_module(home), name) is obj, (old, name)


def test_main_names_are_at_the_package_top_level():
    from cyclegan_jax.torch_compat import load_pth, params_from_state_dict
    from cyclegan_jax.train.step import train_step

    assert cyclegan_jax.params_from_state_dict is params_from_state_dict
    assert cyclegan_jax.load_pth is load_pth
    assert cyclegan_jax.train_step is train_step
    assert all(hasattr(cyclegan_jax, name) for name in cyclegan_jax.__all__)
