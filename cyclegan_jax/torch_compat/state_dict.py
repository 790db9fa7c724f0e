"""Official PyTorch CycleGAN state_dicts -> Flax params of `nn.networks`.

The official checkpoints (`<epoch>_net_G_A.pth`, the pretrained `horse2zebra.pth`, ...)
are plain state_dicts (official `models/base_model.py`, `save_networks`) whose keys
index the layers of `models/networks.py`'s `nn.Sequential`s, such as `model.1.weight`;
`torch_compat.pth.load_pth` reads them without torch. `params_from_state_dict` takes
such a mapping with the tensors as NumPy arrays in PyTorch layouts, works out which
network it describes and its sizes from the keys and shapes, and returns the matching
Flax params.
"""

from __future__ import annotations

import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.nn.networks import PatchDiscriminator, ResnetGenerator
from cyclegan_jax.torch_compat.pth import PthError, load_pth

__all__ = ["PthError", "StateDictError", "describe", "load_pth", "network_for",
           "params_from_state_dict"]

# Buffers that the official loader drops before `load_state_dict` (official
# `models/base_model.py`, `load_networks`).
IGNORED_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


class StateDictError(ValueError):
    """A state_dict that does not describe an official generator or discriminator."""


def _conv(prefix: str, path: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], str]]:
    return {f"{prefix}.weight": (path + ("kernel",), "conv"), f"{prefix}.bias": (path + ("bias",), "vec")}


def _norm(prefix: str, path: tuple[str, ...], affine: bool) -> dict:
    if not affine:
        return {}
    return {f"{prefix}.weight": (path + ("scale",), "vec"), f"{prefix}.bias": (path + ("bias",), "vec")}


def generator_key_map(n_blocks: int, affine: bool, use_dropout: bool) -> dict:
    """Official generator key -> (Flax param path, kind), for the given architecture."""
    m = {}
    m |= _conv("model.1", ("conv_in",)) | _norm("model.2", ("norm_in",), affine)
    m |= _conv("model.4", ("down_0",)) | _norm("model.5", ("down_norm_0",), affine)
    m |= _conv("model.7", ("down_1",)) | _norm("model.8", ("down_norm_1",), affine)
    second = 6 if use_dropout else 5  # Dropout sits at conv_block.4 when enabled.
    for i in range(n_blocks):
        p, b = f"model.{10 + i}.conv_block", f"block_{i}"
        m |= _conv(f"{p}.1", (b, "conv_0")) | _norm(f"{p}.2", (b, "norm_0"), affine)
        m |= _conv(f"{p}.{second}", (b, "conv_1")) | _norm(f"{p}.{second + 1}", (b, "norm_1"), affine)
    up = 10 + n_blocks
    m |= _conv(f"model.{up}", ("up_0",)) | _norm(f"model.{up + 1}", ("up_norm_0",), affine)
    m |= _conv(f"model.{up + 3}", ("up_1",)) | _norm(f"model.{up + 4}", ("up_norm_1",), affine)
    m |= _conv(f"model.{up + 7}", ("conv_out",))
    return m


def discriminator_key_map(n_layers: int, affine: bool) -> dict:
    """Official NLayerDiscriminator key -> (Flax param path, kind)."""
    m = _conv("model.0", ("conv_0",))
    for n in range(1, n_layers + 1):
        m |= _conv(f"model.{3 * n - 1}", (f"conv_{n}",))
        m |= _norm(f"model.{3 * n}", (f"norm_{n}",), affine)
    m |= _conv(f"model.{3 * n_layers + 2}", ("conv_out",))
    return m


def _torch_to_flax(array: np.ndarray, kind: str) -> np.ndarray:
    # Conv2d [out, in, kh, kw] -> [kh, kw, in, out]; ConvTranspose2d [in, out, kh, kw] ->
    # [kh, kw, out, in], which is what nn.ConvTranspose(transpose_kernel=True) holds.
    return array.transpose(2, 3, 1, 0) if kind == "conv" else array


def _flax_to_torch_shape(shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    return (shape[3], shape[2], shape[0], shape[1]) if kind == "conv" else tuple(shape)


def _clean(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in state_dict.items():
        if key.endswith(IGNORED_SUFFIXES) or key == "_metadata":
            continue
        out[key.removeprefix("module.")] = np.asarray(value)
    return out


def _architecture(sd: dict[str, np.ndarray]):
    """Returns (module, key_map) for the network the keys describe."""
    def dim(key: str) -> int:
        return sd[key].ndim if key in sd else -1

    if any(".conv_block." in k for k in sd):
        blocks = {int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        if "model.1.weight" not in sd or dim("model.1.weight") != 4:
            raise StateDictError("generator state_dict lacks the first conv 'model.1.weight'")
        affine = "model.2.weight" in sd
        use_dropout = dim("model.10.conv_block.5.weight") != 4
        w_in = sd["model.1.weight"]
        up = 10 + len(blocks)
        out_key = f"model.{up + 7}.weight"
        output_nc = sd[out_key].shape[0] if dim(out_key) == 4 else 3
        module = ResnetGenerator(ngf=w_in.shape[0], n_blocks=len(blocks), input_nc=w_in.shape[1],
                                 output_nc=output_nc,
                                 norm="instance_affine" if affine else "instance",
                                 use_dropout=use_dropout)
        return module, generator_key_map(len(blocks), affine, use_dropout)
    if dim("model.0.weight") == 4:
        convs = [k for k in sd if re.fullmatch(r"model\.\d+\.weight", k) and sd[k].ndim == 4]
        n_layers = len(convs) - 2
        if n_layers < 1:
            raise StateDictError(f"discriminator state_dict has too few conv layers: {sorted(convs)}")
        w0 = sd["model.0.weight"]
        affine = any(sd[k].ndim == 1 for k in sd if k.endswith(".weight"))
        module = PatchDiscriminator(ndf=w0.shape[0], n_layers=n_layers, input_nc=w0.shape[1],
                                    norm="instance_affine" if affine else "instance")
        return module, discriminator_key_map(n_layers, affine)
    raise StateDictError(
        "cannot tell which network these keys describe: an official ResnetGenerator has "
        "'model.N.conv_block.*' keys and an NLayerDiscriminator has 'model.0.weight'; got "
        f"{sorted(sd)[:8]}{' ...' if len(sd) > 8 else ''}")


def network_for(state_dict: Mapping[str, np.ndarray]):
    """The `ResnetGenerator` or `PatchDiscriminator` (sizes included) a state_dict describes."""
    return _architecture(_clean(state_dict))[0]


def params_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
    """Converts an official generator or discriminator state_dict into Flax params.

    Args:
      state_dict: official key names (`model.1.weight`, ...) mapped to arrays in PyTorch
        layouts. InstanceNorm running-stat keys and a `module.` prefix are ignored.

    Returns:
      The params dict of the `ResnetGenerator` or `PatchDiscriminator` that the keys
      describe (ngf/ndf, blocks, layers, channels and affine norm taken from the keys
      and shapes), with float32 arrays.

    Raises:
      StateDictError: naming every unknown, missing or mis-shaped key.
    """
    sd = _clean(state_dict)
    module, key_map = _architecture(sd)
    unknown = sorted(set(sd) - set(key_map))
    missing = sorted(set(key_map) - set(sd))
    if unknown or missing:
        raise StateDictError(
            f"state_dict does not match the {type(module).__name__} its keys describe "
            f"({describe(module)}): unknown keys {unknown}, missing keys {missing}")
    sample = jnp.zeros((1, 256, 256, module.input_nc))
    shapes = jax.eval_shape(module.init, jax.random.key(0), sample)["params"]
    params: dict = {}
    wrong = []
    for key, (path, kind) in key_map.items():
        expected = _get(shapes, path).shape
        value = _torch_to_flax(sd[key].astype(np.float32), kind)
        if value.shape != expected:
            wrong.append(f"{key}: got {tuple(sd[key].shape)}, expected "
                         f"{_flax_to_torch_shape(expected, kind)}")
            continue
        node = params
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    if wrong:
        raise StateDictError(
            f"mis-shaped keys for {type(module).__name__} ({describe(module)}): " + "; ".join(wrong))
    return params


def _get(tree: dict, path: tuple[str, ...]):
    for name in path:
        tree = tree[name]
    return tree


def describe(module) -> str:
    """The sizes of an official network in its option names."""
    if isinstance(module, ResnetGenerator):
        return (f"ngf={module.ngf}, n_blocks={module.n_blocks}, input_nc={module.input_nc}, "
                f"output_nc={module.output_nc}, norm={module.norm}, dropout={module.use_dropout}")
    return (f"ndf={module.ndf}, n_layers={module.n_layers}, input_nc={module.input_nc}, "
            f"norm={module.norm}")
