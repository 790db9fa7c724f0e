"""The FID variant of Inception-v3 (as pytorch-fid runs it) in Flax, for FID and KID.

pytorch-fid's `InceptionV3(output_blocks=[3], resize_input=True, normalize_input=True,
use_fid_inception=True)`: torchvision's Inception-v3 with the FIDInceptionA/C/E blocks
of the 2015 TensorFlow graph (average pools that exclude padding, a max pool in the
last block), batch norm with eps 1e-3 from stored statistics, images in [0, 1]
resized bilinearly (align_corners=False, no antialiasing) to 299x299 and scaled to
[-1, 1], and the 2048 channels of the final average pool ("pool3") as features.

Weights are the user's `pt_inception-2015-12-05-*.pth` (pytorch-fid's file), read
without torch by `torch_compat.pth.load_pth` and converted by `params_from_state_dict`.
Param names follow the state_dict keys: `Mixed_5b.branch1x1.conv.weight` becomes
`params["Mixed_5b"]["branch1x1"]["conv"]["kernel"]`.
"""

from __future__ import annotations

import functools
import io
from typing import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax import files
from cyclegan_jax.errors import UserError
from cyclegan_jax.torch_compat.pth import load_pth

INPUT_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_HELP = (
    "FID/KID need pytorch-fid's Inception weights: download "
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth on a machine with internet access and pass "
    "--fid_weights=PATH (torch is not needed)")


class FrozenBatchNorm(nn.Module):
    """`BatchNorm2d(eps=1e-3)` in eval mode: stored mean and variance, then scale and bias."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        mean = self.param("mean", nn.initializers.zeros, (c,))
        var = self.param("var", nn.initializers.ones, (c,))
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        return (x - mean) * (scale * jax.lax.rsqrt(var + 1e-3)) + bias


class BasicConv(nn.Module):
    """torchvision's BasicConv2d: conv without bias, batch norm, ReLU."""

    features: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ph, pw = self.padding
        x = nn.Conv(self.features, self.kernel, strides=self.strides,
                    padding=((ph, ph), (pw, pw)), use_bias=False,
                    precision=jax.lax.Precision.HIGHEST, name="conv")(x)
        return nn.relu(FrozenBatchNorm(name="bn")(x))


def _avg_pool(x: jax.Array) -> jax.Array:
    """3x3, stride 1, padding 1, count_include_pad=False (pytorch-fid's FID blocks)."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                       count_include_pad=False)


def _max_pool(x: jax.Array, strides: int = 2, padding: int = 0) -> jax.Array:
    pad = ((padding, padding), (padding, padding))
    return nn.max_pool(x, (3, 3), strides=(strides, strides), padding=pad)


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c7, **row, name="branch7x7_2")(b7)
        b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
        bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c7, **col, name="branch7x7dbl_2")(bd)
        bd = BasicConv(c7, **row, name="branch7x7dbl_3")(bd)
        bd = BasicConv(c7, **col, name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
    """FIDInceptionE_1 (`max_pool=False`: average pool) or FIDInceptionE_2 (max pool)."""

    max_pool: bool

    @nn.compact
    def __call__(self, x):
        def split(y, prefix):
            a = BasicConv(384, (1, 3), padding=(0, 1), name=f"{prefix}a")(y)
            b = BasicConv(384, (3, 1), padding=(1, 0), name=f"{prefix}b")(y)
            return jnp.concatenate([a, b], axis=-1)

        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = split(BasicConv(384, (1, 1), name="branch3x3_1")(x), "branch3x3_2")
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = split(BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd),
                   "branch3x3dbl_3")
        pooled = _max_pool(x, strides=1, padding=1) if self.max_pool else _avg_pool(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FidInceptionV3(nn.Module):
    """Inception-v3 up to pool3: NHWC 299x299 inputs in [-1, 1] -> [N, 2048] features."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = BasicConv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool(x)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(max_pool=False, name="Mixed_7b")(x)
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


# state_dict suffix -> Flax param name, for the conv and batch-norm entries.
_SUFFIXES = {"conv.weight": "kernel", "bn.weight": "scale", "bn.bias": "bias",
             "bn.running_mean": "mean", "bn.running_var": "var"}
_UNUSED = ("fc.weight", "fc.bias")  # the 1008-way classifier: not needed for pool3


@functools.lru_cache(maxsize=1)
def _param_shapes() -> dict:
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return jax.eval_shape(FidInceptionV3().init, jax.random.key(0), x)["params"]


def _flatten(tree: Mapping, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], tuple]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out |= _flatten(v, prefix + (k,))
        else:
            out[prefix + (k,)] = v.shape
    return out


def _torch_key(path: tuple[str, ...]) -> str:
    layer, param = path[:-2], path[-2:]
    suffix = {v: k for k, v in _SUFFIXES.items()}[param[-1]]
    return ".".join(layer + (suffix,))


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of pytorch-fid's `pt_inception-2015-12-05` state_dict with its shape."""
    out = {}
    for path, shape in _flatten(_param_shapes()).items():
        key = _torch_key(path)
        out[key] = (shape[3], shape[2], shape[0], shape[1]) if path[-1] == "kernel" else shape
        if key.endswith("bn.running_var"):
            out[key.replace("running_var", "num_batches_tracked")] = ()
    out["fc.weight"] = (1008, FEATURE_DIM)
    out["fc.bias"] = (1008,)
    return out


def params_from_state_dict(state_dict: Mapping[str, np.ndarray], name: str = "state_dict") -> dict:
    """pytorch-fid Inception state_dict (NumPy arrays, torch layouts) -> Flax params.

    `num_batches_tracked` and the classifier `fc.*` are not needed and may be absent.
    Raises `UserError` naming every unknown, missing or mis-shaped key (`name` says
    which file it came from).
    """
    expected = expected_state_dict_shapes()
    needed = {k for k in expected if not k.endswith("num_batches_tracked") and k not in _UNUSED}
    given = {k.removeprefix("module."): np.asarray(v) for k, v in state_dict.items()}
    unknown = sorted(set(given) - set(expected))
    missing = sorted(needed - set(given))
    wrong = sorted(f"{k}: got {given[k].shape}, expected {expected[k]}" for k in needed & set(given)
                   if given[k].shape != expected[k])
    if unknown or missing or wrong:
        raise UserError(
            f"{name} is not pytorch-fid's Inception-v3 (pt_inception-2015-12-05): "
            f"{len(unknown)} unknown keys {unknown[:5]}, {len(missing)} missing keys "
            f"{missing[:5]}, mis-shaped: {wrong[:5]}. {WEIGHTS_HELP}")
    params: dict = {}
    for path in _flatten(_param_shapes()):
        value = given[_torch_key(path)].astype(np.float32)
        if path[-1] == "kernel":
            value = value.transpose(2, 3, 1, 0)
        node = params
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return params


def load_params(path: str) -> dict:
    """Flax params from pytorch-fid's weights file (`.pth`, or a `.npz` of the same keys),
    local or in a bucket."""
    if not path or not files.resolve(path).is_file():
        raise UserError(f"FID weights file {path!r} does not exist. {WEIGHTS_HELP}")
    if path.endswith(".npz"):
        with np.load(io.BytesIO(files.read_bytes(path))) as npz:
            state_dict = {k: npz[k] for k in npz.files}
    else:
        state_dict = load_pth(path)
    return params_from_state_dict(state_dict, name=path)


def _resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Rows of PyTorch's bilinear weights (align_corners=False, no antialias): [out, in]."""
    scale = size_in / size_out
    src = np.maximum((np.arange(size_out) + 0.5) * scale - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = src - lo
    m = np.zeros((size_out, size_in), np.float64)
    np.add.at(m, (np.arange(size_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(size_out), hi), frac)
    return m.astype(np.float32)


def resize_to_input(images: np.ndarray) -> np.ndarray:
    """NHWC float images -> [N, 299, 299, C] as `F.interpolate(..., 'bilinear')` does."""
    _, h, w, _ = images.shape
    rows, cols = _resize_matrix(h, INPUT_SIZE), _resize_matrix(w, INPUT_SIZE)
    out = np.einsum("oh,nhwc->nowc", rows, images.astype(np.float32))
    return np.einsum("pw,nowc->nopc", cols, out)


@jax.jit
def _pool3(params: dict, images_299: jax.Array) -> jax.Array:
    return FidInceptionV3().apply({"params": params}, 2.0 * images_299 - 1.0)


def pool3_features(params: dict, images: Sequence[np.ndarray] | np.ndarray,
                   batch_size: int = 8) -> np.ndarray:
    """FID features ([N, 2048] float64) of RGB images in [0, 1], any (mixed) sizes.

    Each image is resized to 299x299 on the host; the network runs in fixed batches
    of `batch_size` (the last one padded), so one compilation serves every call.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    resized = [resize_to_input(np.asarray(im)[None])[0] for im in images]
    out = []
    for start in range(0, len(resized), batch_size):
        chunk = np.stack(resized[start:start + batch_size])
        padded = np.zeros((batch_size,) + chunk.shape[1:], np.float32)
        padded[:len(chunk)] = chunk
        out.append(np.asarray(_pool3(params, padded))[:len(chunk)])
    if not out:
        return np.zeros((0, FEATURE_DIM), np.float64)
    return np.concatenate(out).astype(np.float64)
