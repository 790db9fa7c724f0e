"""Times alternative forms of the layers that dominate the accelerator step, forward + backward.

python benchmarks/layer_forms.py --batch=32 --size=256 --dtype=bfloat16

Each group below computes one layer's loss and gradients in several forms (the reflect
padding, the 7x7 convs from and to 3 channels, the norms, the strided and transposed
convs), checks each against the first (relative error of the gradients) and times it.
What the library does is the "library" form; the others are the alternatives measured
(figures: docs/performance.md, benchmarks/results/h100_train_step_256.json and
h200_train_step_256.json). `--groups=conv_in,PatchGAN`
runs only the groups named, `--forms=library,two-pass` only the forms named.
Needs only jax, flax and numpy.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from cyclegan_jax import host_memory  # noqa: E402
from cyclegan_jax.nn.norms import InstanceNorm, instance_norm_relu, moments  # noqa: E402
from cyclegan_jax.ops import conv as conv_lib  # noqa: E402
from cyclegan_jax.ops import padding, space_to_depth  # noqa: E402
from cyclegan_jax.ops.im2col import gather_windows  # noqa: E402
from cyclegan_jax.ops.winograd import winograd_conv3x3  # noqa: E402
from cyclegan_jax.ops import xla_conv  # noqa: E402


def pad_concat(y, p):
    """jnp.pad's reflect mode (a concatenate per axis), the library's padding before."""
    return padding._jnp_pad(y, ((p, p), (p, p)), "reflect")


def pad_gather(y, p):
    """The library's reflect padding: one gather, gradient by jnp.pad's transpose."""
    return padding.pad2d(y, ((p, p), (p, p)), "reflect")


def pad_gather_autodiff(y, p):
    """The same gather with autodiff's gradient (a scatter-add)."""
    r = padding.window_sources(y.shape[1], (p, p), 1, 1, "reflect")[:, 0]
    c = padding.window_sources(y.shape[2], (p, p), 1, 1, "reflect")[:, 0]
    return y[:, r[:, None], c[None, :]]


def pad_select(y, p):
    """Reflect padding as one elementwise select over shifted, reversed views (loop fusion)."""
    def axis(z, ax):
        n = z.shape[ax]
        zp = jax.lax.pad(z, jnp.zeros((), z.dtype),
                         [(p, p, 0) if d == ax else (0, 0, 0) for d in range(z.ndim)])
        rev = jax.lax.rev(zp, (ax,))
        # padded index i < p reads z[p - i] = zp[2p - i] = rev[n - 1 + i]: rev shifted by n - 1.
        lo = jax.lax.slice_in_dim(jax.lax.pad(rev, jnp.zeros((), z.dtype),
                                              [(0, n - 1, 0) if d == ax else (0, 0, 0)
                                               for d in range(z.ndim)]), n - 1, 2 * n - 1 + 2 * p,
                                  axis=ax)
        # padded index i >= n + p reads z[2n - 2 + p - i] = zp[2n - 2 + 2p - i] = rev[i - n + 1]
        hi = jax.lax.slice_in_dim(jax.lax.pad(rev, jnp.zeros((), z.dtype),
                                              [(n - 1, 0, 0) if d == ax else (0, 0, 0)
                                               for d in range(z.ndim)]), 0, n + 2 * p, axis=ax)
        i = jax.lax.broadcasted_iota(jnp.int32, zp.shape, ax)
        return jnp.where(i < p, lo, jnp.where(i >= n + p, hi, zp))
    return axis(axis(y, 1), 2)


def norm_relu_ref(x):
    """The library's instance norm and ReLU (statistics in one pass for bfloat16; the
    gradient's ReLU mask taken from the input in both passes)."""
    return instance_norm_relu(x)


def norm_relu_autodiff(x):
    """Instance norm and ReLU differentiated by autodiff (the library's form before)."""
    return jax.nn.relu(InstanceNorm(dtype=x.dtype).apply({}, x))


def norm_relu_two_pass(x):
    """Instance norm with two-pass statistics (the library's form before for bfloat16)."""
    xf = x.astype(jnp.float32)
    mean, var = moments(xf, one_pass=False)
    return jax.nn.relu((xf - mean) * jax.lax.rsqrt(var + 1e-5)).astype(x.dtype)


@jax.custom_vjp
def norm_relu_fused(x):
    return _norm_relu_fwd(x)[0]


def _norm_relu_fwd(x):
    xf = x.astype(jnp.float32)
    n = x.shape[1] * x.shape[2]
    shift = jax.lax.stop_gradient(xf[:, :1, :1, :])  # one-pass variance, shifted for stability
    d = xf - shift
    s1, s2 = jnp.sum(d, axis=(1, 2), keepdims=True), jnp.sum(d * d, axis=(1, 2), keepdims=True)
    m = s1 / n
    var = jnp.maximum(s2 / n - m * m, 0.0)
    mean = m + shift
    r = jax.lax.rsqrt(var + 1e-5)
    y = jax.nn.relu((xf - mean) * r).astype(x.dtype)
    return y, (x, mean, r)


def _norm_relu_bwd(res, g):
    x, mean, r = res
    xhat = (x.astype(jnp.float32) - mean) * r
    gm = jnp.where(xhat > 0, g.astype(jnp.float32), 0.0)
    a = jnp.mean(gm, axis=(1, 2), keepdims=True)
    b = jnp.mean(gm * xhat, axis=(1, 2), keepdims=True)
    return ((r * (gm - a - xhat * b)).astype(x.dtype),)


norm_relu_fused.defvjp(_norm_relu_fwd, _norm_relu_bwd)


def conv_valid(x, k):
    return xla_conv.conv_valid(x, k, (1, 1))


def transposed_conv_dilated(x, k):
    """`ConvTranspose2d(k=3, s=2, p=1, output_padding=1)` as XLA's input-dilated conv of
    the flipped kernel (no zero taps; the library's sub-pixel conv has 16 taps for 9)."""
    flipped = k[::-1, ::-1].transpose(0, 1, 3, 2)
    return jax.lax.conv_general_dilated(x, flipped, (1, 1), ((1, 2), (1, 2)), lhs_dilation=(2, 2),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def taps_conv(x, k, p):
    """Reflect-padded stride-1 conv with few outputs: x times every tap's kernel at once,
    then the kh*kw shifted slices summed in float32."""
    kh, kw, c, o = k.shape
    xp = pad_gather(x, p)
    n, hp, wp, _ = xp.shape
    oh, ow = hp - kh + 1, wp - kw + 1
    taps = (xp.reshape(-1, c) @ k.transpose(2, 0, 1, 3).reshape(c, -1)).reshape(n, hp, wp, kh, kw, o)
    taps = taps.astype(jnp.float32)
    rows = sum(taps[:, :, j:j + ow, :, j, :] for j in range(kw))
    return sum(rows[:, i:i + oh, :, i, :] for i in range(kh)).astype(x.dtype)


def taps_conv_spatial_minor(x, k, p):
    """`taps_conv` with the taps laid out [kh, kw, out, n, H, W]: the shift-sum then reads
    whole rows (coalesced) instead of 3-channel pieces 147 channels apart."""
    kh, kw, c, o = k.shape
    xp = pad_gather(x, p)
    n, hp, wp, _ = xp.shape
    oh, ow = hp - kh + 1, wp - kw + 1
    taps = jnp.einsum("ijco,nhwc->ijonhw", k, xp, preferred_element_type=jnp.float32)
    out = sum(taps[i, j, :, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw))
    return out.transpose(1, 2, 3, 0).astype(x.dtype)


def patches_conv_spatial_minor(x, k, p):
    """Few-input conv by im2col with the patches laid out [kh, kw, c, n, h, w]: each tap's
    slice is a contiguous block (no 3-channel gather), its gradient a sum of shifted pads."""
    kh, kw, c, o = k.shape
    xp = pad_gather(x, p).transpose(3, 0, 1, 2)  # [c, n, H, W]
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    patches = jnp.stack([xp[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)])
    return jnp.einsum("tcnhw,tco->nhwo", patches, k.reshape(kh * kw, c, o))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def windows(xp, kh, kw):
    """[n, oh, ow, kh, kw, c] stride-1 windows of a padded input, by one gather; the
    gradient sums kh*kw shifted pads (col2im) instead of a scatter-add."""
    return gather_windows(xp, kh, kw, (1, 1), ((0, 0), (0, 0)), "zero")


def _windows_fwd(xp, kh, kw):
    return windows(xp, kh, kw), xp.shape[1:3]


def _windows_bwd(kh, kw, hw, g):
    h, w = hw
    return (sum(jnp.pad(g[:, :, :, i, j, :], ((0, 0), (i, h - g.shape[1] - i),
                                              (j, w - g.shape[2] - j), (0, 0)))
                for i in range(kh) for j in range(kw)),)


windows.defvjp(_windows_fwd, _windows_bwd)


def patches_conv(x, k, p):
    """Reflect-padded stride-1 conv with few inputs: im2col by one gather, one matmul."""
    kh, kw, c, o = k.shape
    return windows(pad_gather(x, p), kh, kw).reshape(x.shape[:3] + (kh * kw * c,)) @ k.reshape(-1, o)


def pad_channels(a, axis, to):
    extra = -a.shape[axis] % to
    return jnp.pad(a, [(0, extra) if d == axis else (0, 0) for d in range(a.ndim)])


def groups(size: int):
    """{group: (input shapes (x, kernel), {form: fn(x, kernel) -> output})}."""
    s4 = size // 4
    res = {
        "concat pad (jnp.pad)": lambda x, k: conv_valid(pad_concat(norm_relu_ref(x), 1), k),
        "gather pad": lambda x, k: conv_valid(pad_gather(norm_relu_ref(x), 1), k),
        "gather pad, scatter bwd": lambda x, k: conv_valid(pad_gather_autodiff(norm_relu_ref(x), 1), k),
        "select pad": lambda x, k: conv_valid(pad_select(norm_relu_ref(x), 1), k),
        "fused norm, gather pad": lambda x, k: conv_valid(pad_gather(norm_relu_fused(x), 1), k),
        "autodiff norm+ReLU (conv2d)": lambda x, k: conv_lib.conv2d(
            norm_relu_autodiff(x), k, padding=((1, 1), (1, 1)), pad_mode="reflect"),
        "two-pass norm, gather pad": lambda x, k: conv_valid(pad_gather(norm_relu_two_pass(x), 1), k),
        "library (conv2d)": lambda x, k: conv_lib.conv2d(
            norm_relu_ref(x), k, padding=((1, 1), (1, 1)), pad_mode="reflect"),
        "Winograd F(2,3) (library on CPU)": lambda x, k: winograd_conv3x3(
            norm_relu_ref(x), k, ((1, 1), (1, 1)), "reflect"),
        "zero pad in conv (wrong; floor)": lambda x, k: conv_lib.conv2d(
            norm_relu_ref(x), k, padding=((1, 1), (1, 1)), impl="xla"),
    }
    lib = {
        "xla conv, gather pad": lambda x, k: conv_lib.conv2d(
            x, k, padding=((3, 3), (3, 3)), pad_mode="reflect", impl="xla"),
        "space-to-depth 4 (library on GPU)": lambda x, k: conv_lib.conv2d(
            x, k, padding=((3, 3), (3, 3)), pad_mode="reflect", impl="s2d"),
        "space-to-depth 2": lambda x, k: space_to_depth.s2d_conv(x, k, (1, 1), ((3, 3), (3, 3)),
                                                           "reflect", 2),
        "space-to-depth 8": lambda x, k: space_to_depth.s2d_conv(x, k, (1, 1), ((3, 3), (3, 3)),
                                                           "reflect", 8),
    }
    conv_in = {**lib,
               "im2col matmul, col2im bwd": lambda x, k: patches_conv(x, k, 3),
               "im2col matmul, spatial-minor patches": lambda x, k: patches_conv_spatial_minor(x, k, 3),
               "channels 3->8": lambda x, k: conv_valid(pad_channels(pad_concat(x, 3), 3, 8),
                                                        pad_channels(k, 2, 8))}
    conv_out = {**lib,
                "taps matmul, shift-sum": lambda x, k: taps_conv(x, k, 3),
                "taps matmul, spatial-minor taps": lambda x, k: taps_conv_spatial_minor(x, k, 3),
                "channels 3->8": lambda x, k: conv_valid(pad_concat(x, 3),
                                                         pad_channels(k, 3, 8))[..., :3]}

    def zero_padded(kernel_shape: tuple, stride: int) -> dict:
        """Forms of a conv with zero padding 1 (the PatchGAN's, the generator's down convs)."""
        st, pad = (stride, stride), ((1, 1), (1, 1))
        library = space_to_depth.block_size(kernel_shape, st)
        forms = {"xla conv" + ("" if library else " (library on GPU)"):
                 lambda x, k: conv_lib.conv2d(x, k, st, pad, "xla")}
        for b in (2, 4):
            name = f"space-to-depth {b}" + (" (library on GPU)" if b == library else "")
            forms[name] = functools.partial(
                lambda x, k, b: space_to_depth.s2d_conv(x, k, st, pad, "zero", b), b=b)
        return forms

    up = {"sub-pixel conv (library)": lambda x, k: conv_lib.upsample2x(x, k),
          "input-dilated conv": transposed_conv_dilated}
    s8 = size // 8 - 1
    return {
        f"res conv 3x3 256->256 at {s4}^2 with norm+relu+pad": (((s4, s4, 256), (3, 3, 256, 256)), res),
        f"conv_in 7x7 3->64 at {size}^2": (((size, size, 3), (7, 7, 3, 64)), conv_in),
        f"conv_out 7x7 64->3 at {size}^2": (((size, size, 64), (7, 7, 64, 3)), conv_out),
        f"PatchGAN conv_0 4x4/2 3->64 at {size}^2": (((size, size, 3), (4, 4, 3, 64)),
                                                     zero_padded((4, 4, 3, 64), 2)),
        f"PatchGAN conv_1 4x4/2 64->128 at {size // 2}^2": (((size // 2, size // 2, 64),
                                                             (4, 4, 64, 128)),
                                                            zero_padded((4, 4, 64, 128), 2)),
        f"PatchGAN conv_out 4x4 512->1 at {s8}^2": (((s8, s8, 512), (4, 4, 512, 1)),
                                                    zero_padded((4, 4, 512, 1), 1)),
        f"down_0 3x3/2 64->128 at {size}^2": (((size, size, 64), (3, 3, 64, 128)),
                                              zero_padded((3, 3, 64, 128), 2)),
        f"up_1 transposed 3x3/2 128->64 at {size // 2}^2": (((size // 2, size // 2, 128),
                                                             (3, 3, 64, 128)), up),
        f"up_0 transposed 3x3/2 256->128 at {s4}^2": (((s4, s4, 256), (3, 3, 128, 256)), up),
    }


def time_fn(fn, args, reps: int) -> float:
    out = fn(*args)
    jax.block_until_ready(out)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t) / reps)
    return best * 1e3


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--groups", default="", help="only the groups whose name contains one of "
                   "these comma-separated words (default: all)")
    p.add_argument("--forms", default="", help="only the forms whose name contains one of "
                   "these comma-separated words (default: all; the first form is the reference)")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    host_memory.keep_freed_host_memory()  # before the first JAX computation
    dtype = jnp.dtype(args.dtype)
    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}, batch {args.batch}, "
          f"{args.dtype}; ms per forward+backward (best of 3 x {args.reps}), grad error vs first form")
    results = {}
    wanted = [w for w in args.groups.split(",") if w]
    for g, ((xs, ks), forms) in groups(args.size).items():
        if wanted and not any(w in g for w in wanted):
            continue
        key = jax.random.PRNGKey(0)
        kx, kk, kc = jax.random.split(key, 3)
        x = jax.random.normal(kx, (args.batch,) + xs, jnp.float32).astype(dtype)
        k = (0.05 * jax.random.normal(kk, ks, jnp.float32)).astype(dtype)
        print(f"== {g}")
        ref = None
        picked = [w for w in args.forms.split(",") if w]
        for name, f in forms.items():
            if picked and not any(w in name for w in picked):
                continue
            def loss(x, k, f=f):
                y = f(x, k).astype(jnp.float32)
                w = jax.random.normal(kc, y.shape[1:], jnp.float32)  # fixed, not zeros
                return jnp.sum(y * w)
            step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
            try:
                t0 = time.perf_counter()
                _, grads = step(x, k)
                compile_s = time.perf_counter() - t0
                grads = [np.asarray(gr, np.float32) for gr in grads]
                if ref is None:
                    ref, err = grads, 0.0
                else:
                    err = max(float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(grads, ref))
                ms = time_fn(step, (x, k), args.reps)
            except Exception as e:  # noqa: BLE001  (report and go on: one form failing is a result)
                print(f"  {name:34s} FAILED: {type(e).__name__}: {str(e)[:200]}")
                continue
            results[f"{g} | {name}"] = {"ms": round(ms, 3), "grad_rel_err": err,
                                        "compile_s": round(compile_s, 1)}
            print(f"  {name:34s} {ms:8.3f} ms   err {err:.1e}   (compile {compile_s:.1f} s)", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"device": jax.devices()[0].device_kind, "jax": jax.__version__,
                       "batch": args.batch, "size": args.size, "dtype": args.dtype,
                       "results": results}, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
