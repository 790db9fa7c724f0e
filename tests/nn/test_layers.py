"""The conv layers: params, the biases in front of norms, and the injected ConvLayers."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.nn import layers, networks, norms



def test_biases_in_front_of_instance_norms_get_no_gradient():
    # The norm subtracts each channel's mean, so such a bias changes no output and its
    # gradient is zero in exact arithmetic: it is not computed (a reduction over the
    # whole conv output). Every other parameter still gets its gradient.
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32))
    nets = {"G": networks.ResnetGenerator(ngf=8, n_blocks=2), "D": networks.PatchDiscriminator(ndf=8)}
    for name, net in nets.items():
        params = jax.jit(net.init)(jax.random.key(0), x)["params"]
        # Nonzero biases everywhere, as after loading a trained checkpoint.
        params = jax.tree.map(lambda p: p + 0.1 * jnp.asarray(rng.standard_normal(p.shape),
                                                              jnp.float32), params)
        grads = jax.jit(jax.grad(lambda p: jnp.sum(net.apply({"params": p}, x) ** 2)))(params)
        flat = {"/".join(k.key for k in path): np.asarray(g)
                for path, g in jax.tree_util.tree_leaves_with_path(grads)}
        free = {"G": {"conv_out/bias"}, "D": {"conv_0/bias", "conv_out/bias"}}[name]
        for path, g in flat.items():
            if path.endswith("/bias") and path not in free:
                assert not g.any(), path
            else:
                assert np.abs(g).max() > 1e-4, path

    # What is skipped is float rounding only: the same conv and norm with the bias's
    # gradient computed.
    def conv_norm(p, normed):
        y = layers.Conv(8, (3, 3), padding=((1, 1), (1, 1)), normed=normed).apply({"params": p}, x)
        return jnp.sum(jnp.tanh(norms.InstanceNorm().apply({}, y)) * x[..., :1])
    p = layers.Conv(8, (3, 3), padding=((1, 1), (1, 1))).init(jax.random.key(1), x)["params"]
    grad = jax.jit(jax.grad(conv_norm), static_argnums=1)
    computed, skipped = grad(p, False), grad(p, True)
    assert np.abs(np.asarray(computed["bias"])).max() < 1e-5 * np.abs(np.asarray(computed["kernel"])).max()
    assert not np.asarray(skipped["bias"]).any()
    np.testing.assert_array_equal(np.asarray(computed["kernel"]), np.asarray(skipped["kernel"]))



def test_conv_layers_compare_and_hash_by_value_so_equal_hparams_share_a_compile():
    from cyclegan_jax.train.hparams import HParams
    from tests import helpers

    assert layers.ConvLayers("xla") == layers.ConvLayers("xla") != layers.ConvLayers("s2d")
    a, b = (HParams.from_config(helpers.tiny_config()) for _ in range(2))
    assert a == b and hash(a) == hash(b)
    traced = []

    @functools.partial(jax.jit, static_argnums=0)
    def f(hparams, x):
        traced.append(hparams)
        return x * hparams.lambda_A

    f(a, 1.0), f(b, 2.0)
    assert len(traced) == 1  # the second call reused the first's compiled program
    f(HParams.from_config(helpers.tiny_config(conv_impl="s2d")), 1.0)
    assert len(traced) == 2


def test_unknown_conv_impl_is_refused_when_the_layers_are_built():
    with pytest.raises(ValueError, match="conv_impl must be one of"):
        layers.ConvLayers("cudnn")
