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

from cyclegan_jax.nn.networks import (PatchDiscriminator, PixelDiscriminator, ResnetGenerator,
                                      UnetGenerator)
from cyclegan_jax.nn.norms import conv_bias
from cyclegan_jax.torch_compat.pth import PthError, load_pth

__all__ = ["PthError", "StateDictError", "describe", "load_pth", "network_for",
           "params_from_state_dict"]

# Buffers that no network here reads: `num_batches_tracked` (torch uses it only without a
# momentum), and instance norms' running statistics, which the official loader drops before
# `load_state_dict` (official `models/base_model.py`, `load_networks`).
IGNORED_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
RUNNING_STATS = {"running_mean": "mean", "running_var": "var"}


class StateDictError(ValueError):
    """A state_dict that does not describe an official generator or discriminator."""


def _conv(prefix: str, path: tuple[str, ...], bias: bool = True) -> dict[str, tuple[tuple[str, ...], str]]:
    m = {f"{prefix}.weight": (("params",) + path + ("kernel",), "conv")}
    if bias:
        m[f"{prefix}.bias"] = (("params",) + path + ("bias",), "vec")
    return m


def _norm(prefix: str, path: tuple[str, ...], norm: str) -> dict:
    if norm in ("instance", "none"):
        return {}
    m = {f"{prefix}.weight": (("params",) + path + ("scale",), "vec"),
         f"{prefix}.bias": (("params",) + path + ("bias",), "vec")}
    if norm == "batch":
        for torch_name, name in RUNNING_STATS.items():
            m[f"{prefix}.{torch_name}"] = (("batch_stats",) + path + (name,), "vec")
    return m


def generator_key_map(n_blocks: int, norm: str, use_dropout: bool) -> dict:
    """Official ResnetGenerator key -> (Flax variable path, kind), for the given architecture."""
    b = conv_bias(norm)
    m = {}
    m |= _conv("model.1", ("conv_in",), b) | _norm("model.2", ("norm_in",), norm)
    m |= _conv("model.4", ("down_0",), b) | _norm("model.5", ("down_norm_0",), norm)
    m |= _conv("model.7", ("down_1",), b) | _norm("model.8", ("down_norm_1",), norm)
    second = 6 if use_dropout else 5  # Dropout sits at conv_block.4 when enabled.
    for i in range(n_blocks):
        p, blk = f"model.{10 + i}.conv_block", f"block_{i}"
        m |= _conv(f"{p}.1", (blk, "conv_0"), b) | _norm(f"{p}.2", (blk, "norm_0"), norm)
        m |= _conv(f"{p}.{second}", (blk, "conv_1"), b)
        m |= _norm(f"{p}.{second + 1}", (blk, "norm_1"), norm)
    up = 10 + n_blocks
    m |= _conv(f"model.{up}", ("up_0",), b) | _norm(f"model.{up + 1}", ("up_norm_0",), norm)
    m |= _conv(f"model.{up + 3}", ("up_1",), b) | _norm(f"model.{up + 4}", ("up_norm_1",), norm)
    m |= _conv(f"model.{up + 7}", ("conv_out",))
    return m


def unet_level_prefix(d: int) -> str:
    """The official key prefix of U-Net level d's `nn.Sequential` (0: outermost): each
    level's submodule is item 1 of the outermost and item 3 of the others."""
    return "model.model" + (".1.model" if d else "") + ".3.model" * max(d - 1, 0)


def unet_key_map(num_downs: int, norm: str) -> dict:
    """Official UnetGenerator key -> (Flax variable path, kind)."""
    b = conv_bias(norm)
    m = _conv(f"{unet_level_prefix(0)}.0", ("down_0",), b) | _conv(f"{unet_level_prefix(0)}.3", ("up_0",))
    for d in range(1, num_downs):
        seq = unet_level_prefix(d)
        m |= _conv(f"{seq}.1", (f"down_{d}",), b)
        if d < num_downs - 1:  # [LeakyReLU, down conv, norm, submodule, ReLU, up conv, norm]
            m |= _norm(f"{seq}.2", (f"down_norm_{d}",), norm)
            m |= _conv(f"{seq}.5", (f"up_{d}",), b) | _norm(f"{seq}.6", (f"up_norm_{d}",), norm)
        else:  # innermost: [LeakyReLU, down conv, ReLU, up conv, norm]
            m |= _conv(f"{seq}.3", (f"up_{d}",), b) | _norm(f"{seq}.4", (f"up_norm_{d}",), norm)
    return m


def discriminator_key_map(n_layers: int, norm: str) -> dict:
    """Official NLayerDiscriminator key -> (Flax variable path, kind)."""
    m = _conv("model.0", ("conv_0",))
    last = max(n_layers, 1)
    for n in range(1, last + 1):
        m |= _conv(f"model.{3 * n - 1}", (f"conv_{n}",), conv_bias(norm))
        m |= _norm(f"model.{3 * n}", (f"norm_{n}",), norm)
    m |= _conv(f"model.{3 * last + 2}", ("conv_out",))
    return m


def pixel_key_map(norm: str) -> dict:
    """Official PixelDiscriminator key -> (Flax variable path, kind)."""
    b = conv_bias(norm)
    return (_conv("net.0", ("conv_0",)) | _conv("net.2", ("conv_1",), b)
            | _norm("net.3", ("norm_1",), norm) | _conv("net.5", ("conv_out",), b))


def _torch_to_flax(array: np.ndarray, kind: str) -> np.ndarray:
    # Conv2d [out, in, kh, kw] -> [kh, kw, in, out]; ConvTranspose2d [in, out, kh, kw] ->
    # [kh, kw, out, in], which is what nn.ConvTranspose(transpose_kernel=True) holds.
    return array.transpose(2, 3, 1, 0) if kind == "conv" else array


def _flax_to_torch_shape(shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    return (shape[3], shape[2], shape[0], shape[1]) if kind == "conv" else tuple(shape)


def _clean(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in state_dict.items():
        if key.endswith(".num_batches_tracked") or key == "_metadata":
            continue
        out[key.removeprefix("module.")] = np.asarray(value)
    return out


def _norm_from_keys(sd: dict[str, np.ndarray], conv: str, norm: str) -> str:
    """The norm option of a network whose first normed conv is `conv` and its norm layer
    `norm` (key prefixes): the conv has a bias only before instance norms; batch norm and
    an affine instance norm have a weight."""
    has_weight = f"{norm}.weight" in sd
    if f"{conv}.bias" in sd:
        return "instance_affine" if has_weight else "instance"
    return "batch" if has_weight else "none"


def _architecture(sd: dict[str, np.ndarray]):
    """Returns (module, key_map) for the network the keys describe."""
    def dim(key: str) -> int:
        return sd[key].ndim if key in sd else -1

    if any(".conv_block." in k for k in sd):
        blocks = {int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        if dim("model.1.weight") != 4:
            raise StateDictError("generator state_dict lacks the first conv 'model.1.weight'")
        norm = _norm_from_keys(sd, "model.1", "model.2")
        use_dropout = dim("model.10.conv_block.5.weight") != 4
        w_in = sd["model.1.weight"]
        up = 10 + len(blocks)
        out_key = f"model.{up + 7}.weight"
        output_nc = sd[out_key].shape[0] if dim(out_key) == 4 else 3
        module = ResnetGenerator(ngf=w_in.shape[0], n_blocks=len(blocks), input_nc=w_in.shape[1],
                                 output_nc=output_nc, norm=norm, use_dropout=use_dropout)
        return module, generator_key_map(len(blocks), norm, use_dropout)
    if dim("model.model.0.weight") == 4:
        num_downs = 1
        while dim(f"{unet_level_prefix(num_downs)}.1.weight") == 4:
            num_downs += 1
        if num_downs < 5:
            raise StateDictError(f"U-Net state_dict has {num_downs} levels; the official "
                                 "UnetGenerator has at least 5")
        w_in, w_out = sd["model.model.0.weight"], sd.get(f"{unet_level_prefix(0)}.3.weight")
        norm = _norm_from_keys(sd, f"{unet_level_prefix(1)}.1", f"{unet_level_prefix(1)}.2")
        module = UnetGenerator(ngf=w_in.shape[0], num_downs=num_downs, input_nc=w_in.shape[1],
                               output_nc=w_out.shape[1] if w_out is not None else 3, norm=norm)
        return module, unet_key_map(num_downs, norm)
    if dim("net.0.weight") == 4:
        w0 = sd["net.0.weight"]
        norm = _norm_from_keys(sd, "net.2", "net.3")
        module = PixelDiscriminator(ndf=w0.shape[0], input_nc=w0.shape[1], norm=norm)
        return module, pixel_key_map(norm)
    if dim("model.0.weight") == 4:
        convs = [k for k in sd if re.fullmatch(r"model\.\d+\.weight", k) and sd[k].ndim == 4]
        w0 = sd["model.0.weight"]
        n_layers = len(convs) - 2
        if n_layers < 1:
            raise StateDictError(f"discriminator state_dict has too few conv layers: {sorted(convs)}")
        if n_layers == 1 and dim("model.2.weight") == 4 and sd["model.2.weight"].shape[0] == w0.shape[0]:
            n_layers = 0  # one stride-1 conv that keeps ndf channels
        norm = _norm_from_keys(sd, "model.2", "model.3")
        module = PatchDiscriminator(ndf=w0.shape[0], n_layers=n_layers, input_nc=w0.shape[1],
                                    norm=norm)
        return module, discriminator_key_map(n_layers, norm)
    raise StateDictError(
        "cannot tell which network these keys describe: an official ResnetGenerator has "
        "'model.N.conv_block.*' keys, a UnetGenerator 'model.model.0.weight', an "
        "NLayerDiscriminator 'model.0.weight' and a PixelDiscriminator 'net.0.weight'; got "
        f"{sorted(sd)[:8]}{' ...' if len(sd) > 8 else ''}")


def network_for(state_dict: Mapping[str, np.ndarray]):
    """The network (sizes and norm included) a state_dict describes."""
    return _architecture(_clean(state_dict))[0]


def params_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
    """Converts an official generator or discriminator state_dict into Flax params.

    Args:
      state_dict: official key names (`model.1.weight`, ...) mapped to arrays in PyTorch
        layouts. `num_batches_tracked`, instance norms' running statistics and a
        `module.` prefix are ignored.

    Returns:
      The params dict of the network (`ResnetGenerator`, `UnetGenerator`,
      `PatchDiscriminator` or `PixelDiscriminator`) that the keys describe (sizes, layers,
      channels and norm taken from the keys and shapes), with float32 arrays; for a
      batch-normed network `{"params": ..., "batch_stats": ...}`, the running statistics
      being the batch norms' `running_mean` and `running_var`. U-Net dropout leaves no key:
      build the module with `use_dropout` yourself to train with it.

    Raises:
      StateDictError: naming every unknown, missing or mis-shaped key.
    """
    sd = _clean(state_dict)
    module, key_map = _architecture(sd)
    if module.norm != "batch":  # instance norms' running statistics (2018 checkpoints)
        sd = {k: v for k, v in sd.items() if not k.endswith(IGNORED_SUFFIXES)}
    unknown = sorted(set(sd) - set(key_map))
    missing = sorted(set(key_map) - set(sd))
    if unknown or missing:
        raise StateDictError(
            f"state_dict does not match the {type(module).__name__} its keys describe "
            f"({describe(module)}): unknown keys {unknown}, missing keys {missing}")
    shapes = jax.eval_shape(module.init, jax.random.key(0), sample_input(module))
    variables: dict = {}
    wrong = []
    for key, (path, kind) in key_map.items():
        expected = _get(shapes, path).shape
        value = _torch_to_flax(sd[key].astype(np.float32), kind)
        if value.shape != expected:
            wrong.append(f"{key}: got {tuple(sd[key].shape)}, expected "
                         f"{_flax_to_torch_shape(expected, kind)}")
            continue
        node = variables
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    if wrong:
        raise StateDictError(
            f"mis-shaped keys for {type(module).__name__} ({describe(module)}): " + "; ".join(wrong))
    return variables if "batch_stats" in variables else variables["params"]


def sample_input(module) -> jax.ShapeDtypeStruct:
    """An input shape the network `module` takes: one image large enough for its strides."""
    side = 256
    if isinstance(module, UnetGenerator):
        side = max(side, 2 ** module.num_downs)
    elif isinstance(module, PatchDiscriminator):
        side = max(side, 2 ** (module.n_layers + 2))
    return jax.ShapeDtypeStruct((1, side, side, module.input_nc), jnp.float32)


def _get(tree: dict, path: tuple[str, ...]):
    for name in path:
        tree = tree[name]
    return tree


def describe(module) -> str:
    """The sizes of an official network in its option names."""
    if isinstance(module, ResnetGenerator):
        return (f"ngf={module.ngf}, n_blocks={module.n_blocks}, input_nc={module.input_nc}, "
                f"output_nc={module.output_nc}, norm={module.norm}, dropout={module.use_dropout}")
    if isinstance(module, UnetGenerator):
        return (f"ngf={module.ngf}, num_downs={module.num_downs}, input_nc={module.input_nc}, "
                f"output_nc={module.output_nc}, norm={module.norm}")
    if isinstance(module, PixelDiscriminator):
        return f"ndf={module.ndf}, input_nc={module.input_nc}, norm={module.norm}"
    return (f"ndf={module.ndf}, n_layers={module.n_layers}, input_nc={module.input_nc}, "
            f"norm={module.norm}")
