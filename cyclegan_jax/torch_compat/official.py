"""Official PyTorch CycleGAN and pix2pix files -> our checkpoints and generator params,
without torch.

Two kinds of file exist:
- a checkpoint folder written by the official `save_networks` (`models/base_model.py`)
  (`<epoch>_net_{G_A,G_B,D_A,D_B}.pth`, pix2pix `<epoch>_net_{G,D}.pth`, epoch `latest`
  or a number), which
  `import_checkpoint` turns into a workdir that `train.py` resumes from (fine-tuning:
  step 0, fresh Adam moments and empty pools, since the official files hold neither;
  `config.epoch_count` places the learning-rate schedule as the official option does)
  and `eval.py` reads;
- a single pretrained generator (`horse2zebra.pth`, from the official
  `scripts/download_cyclegan_model.sh`), which `load_generator` reads into
  params for `translate`; `save_generator` stores params as a Flax msgpack file.
"""

from __future__ import annotations

import os
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax import files
from cyclegan_jax.config import save_config, upgrade
from cyclegan_jax.errors import UserError
from cyclegan_jax.nn.networks import (PixelDiscriminator, ResnetGenerator, UnetGenerator,
                                      discriminator_from_params, generator_from_params,
                                      split_variables)
from cyclegan_jax.torch_compat.pth import load_pth
from cyclegan_jax.torch_compat.state_dict import (StateDictError, describe, network_for,
                                                  params_from_state_dict)
from cyclegan_jax.train.checkpoints import Checkpoints
from cyclegan_jax.train.hparams import NET_G_BLOCKS, NET_G_DOWNS, HParams
from cyclegan_jax.train.state import init_variables, raw_key, state_from_params

NETS = ("G_A", "G_B", "D_A", "D_B")


def official_files(folder: files.PathLike, epoch: str = "latest",
                   nets: tuple[str, ...] = NETS) -> dict[str, str]:
    """Paths of `<epoch>_net_<net>.pth` for the networks `nets` (CycleGAN's four by default;
    pix2pix's are G and D); an error names what is missing."""
    root = files.resolve(folder)
    if not root.is_dir():
        raise UserError(f"official checkpoint folder {os.fspath(folder)!r} does not exist")
    paths = {net: str(root / f"{epoch}_net_{net}.pth") for net in nets}
    missing = [f"{epoch}_net_{net}.pth" for net, p in paths.items() if not files.resolve(p).is_file()]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.name.endswith(".pth"))
        raise UserError(
            f"{folder} lacks {', '.join(missing)} (epoch {epoch!r}); it holds {present or 'no .pth files'}. "
            "Pass the epoch the files carry (e.g. --epoch=200), or a folder written by the "
            "official train.py (a single pretrained generator goes to --generator instead; a "
            "pix2pix folder, latest_net_G/D.pth, needs --config=configs/pix2pix.py)")
    return paths


def _convert(path: str) -> dict:
    try:
        return params_from_state_dict(load_pth(path))
    except StateDictError as e:
        raise UserError(f"{path}: {e}") from e


def _options(generator, discriminator) -> dict:
    """The official model options that built these two networks."""
    if isinstance(generator, UnetGenerator):
        net_g = {v: k for k, v in NET_G_DOWNS.items()}.get(generator.num_downs,
                                                          f"<U-Net of {generator.num_downs} levels>")
    else:
        net_g = {v: k for k, v in NET_G_BLOCKS.items()}.get(generator.n_blocks,
                                                           f"<{generator.n_blocks} blocks>")
    layers = getattr(discriminator, "n_layers", 3)
    net_d = "pixel" if isinstance(discriminator, PixelDiscriminator) else (
        "basic" if layers == 3 else "n_layers")
    return {"ngf": generator.ngf, "netG": net_g, "ndf": discriminator.ndf, "netD": net_d,
            "n_layers_D": layers, "norm": generator.norm, "input_nc": generator.input_nc,
            "output_nc": generator.output_nc}


def _architecture_hint(variables: dict, hparams: HParams) -> str:
    """What the official files hold versus what the config asks for, with the fix."""
    (g, *_), (d, *_) = hparams.network_names
    found = _options(generator_from_params(variables[g]), discriminator_from_params(variables[d]))
    configured = _options(getattr(hparams, g), getattr(hparams, d))
    fix = " ".join(f"--config.{k}={v}" for k, v in found.items() if configured[k] != v)
    return (f"the official networks do not match the config's model: "
            f"{', '.join(f'{k}={v}' for k, v in found.items())}. Pass {fix or '(no field differs: check use_dropout)'} "
            "here and to train.py")


def import_checkpoint(folder: files.PathLike, workdir: files.PathLike, config: Any,
                      epoch: str = "latest") -> int:
    """Writes the official checkpoint in `folder` as step 0 of a run in `workdir`.

    Args:
      folder: holds `<epoch>_net_{G_A,G_B,D_A,D_B}.pth` from the official code (for a
        pix2pix config, `<epoch>_net_{G,D}.pth`).
      workdir: a new run directory (refused if it already has checkpoints).
      config: the run's config (see `configs/default.py`); its model fields must
        describe the official networks, and `epoch_count` says which epoch training
        continues at (e.g. 201 after the official 200).
      epoch: the files' epoch label.

    Returns:
      The number of parameters imported.
    """
    config = upgrade(config)
    hparams = HParams.from_config(config)
    paths = official_files(folder, epoch, sum(hparams.network_names, ()))
    variables = {net: _convert(path) for net, path in paths.items()}
    split = {net: split_variables(v) for net, v in variables.items()}
    params = {net: p for net, (p, _) in split.items()}
    batch_stats = {net: s for net, (_, s) in split.items() if s}
    key = raw_key(config.seed)
    k_init, k_step = jax.random.split(key)
    expected = jax.eval_shape(lambda: init_variables(hparams, k_init))
    shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape), tree)  # noqa: E731
    if shapes((params, batch_stats)) != shapes(expected):  # names and shapes both compared
        raise UserError(f"{folder}: {_architecture_hint(variables, hparams)}")

    checkpoints = Checkpoints(files.resolve(workdir) / "checkpoints", writer=True)
    try:
        if checkpoints.steps():
            raise UserError(f"{workdir} already has checkpoints (steps {checkpoints.steps()}); "
                            "import into a new --workdir")
        state = jax.jit(lambda p, s, k: state_from_params(hparams, p, k, config.pool_size,
                                                          config.crop_size, s))(
            params, batch_stats, k_step)
        save_config(workdir, config)
        checkpoints.save(state, {"data": None, "imported_from": str(files.resolve(folder)),
                                 "epoch": epoch, "step": 0})
    finally:
        checkpoints.close()
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def load_generator(path: str) -> dict:
    """Generator params from an official `.pth` (e.g. `horse2zebra.pth`, or a pix2pix
    `latest_net_G.pth`: `{"params", "batch_stats"}` for batch-normed ones) or our
    `.msgpack`, local or in a bucket."""
    if not files.resolve(path).is_file():
        raise UserError(f"generator file {path!r} does not exist")
    if path.endswith(".msgpack"):
        try:
            params = flax.serialization.msgpack_restore(files.read_bytes(path))
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001  (msgpack raises several types)
            raise UserError(f"{path} is not a Flax msgpack params file ({e})") from e
        return jax.tree.map(jnp.asarray, params)
    state_dict = load_pth(path)
    try:
        module = network_for(state_dict)
    except StateDictError as e:
        raise UserError(f"{path}: {e}") from e
    if not isinstance(module, (ResnetGenerator, UnetGenerator)):
        raise UserError(f"{path} holds a discriminator ({describe(module)}), not a generator")
    return _convert(path)


def save_generator(params: dict, path: files.PathLike) -> None:
    """Writes generator params as a Flax msgpack file (atomically)."""
    files.write_atomic(path, flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
