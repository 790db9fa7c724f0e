"""FID/KID: the Inception port against pytorch-fid's outputs, and the maths in closed form."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg

from cyclegan_jax.eval import fid, inception
from cyclegan_jax.errors import UserError
from tests import helpers


@pytest.fixture(scope="module")
def standin():
    return inception.params_from_state_dict(helpers.fid_standin_state_dict())


def test_network_expects_exactly_the_keys_and_shapes_of_the_real_weights_file():
    keys = json.loads(str(helpers.fixture("fid_inception_random.npz")["keys"]))
    assert len(keys) == 566
    assert inception.expected_state_dict_shapes() == {k: tuple(s) for k, s in keys}


@pytest.mark.parametrize("name", ["64x80", "299"])
def test_port_reproduces_pytorch_fid_pool3(standin, name):
    reference = helpers.fixture("fid_inception_random.npz")
    images = helpers.nhwc(reference[f"input_{name}_nchw"])
    features = inception.pool3_features(standin, images)
    expected = reference[f"pool3_{name}"]
    assert features.shape == expected.shape == (len(images), 2048)
    np.testing.assert_allclose(features, expected, atol=2e-5 * np.abs(expected).max())


def test_resize_matches_bilinear_half_pixel_interpolation():
    # 2 -> 4 pixels: sources at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to row 1).
    x = np.array([0.0, 1.0], np.float32)[None, :, None, None] * np.ones((1, 1, 1, 1), np.float32)
    rows = inception._resize_matrix(2, 4)
    np.testing.assert_allclose(rows @ x[0, :, 0, 0], [0.0, 0.25, 0.75, 1.0])
    assert inception.resize_to_input(np.ones((1, 10, 7, 3))).shape == (1, 299, 299, 3)


def test_weights_file_with_wrong_keys_names_them(tmp_path):
    sd = helpers.fid_standin_state_dict()
    sd["Mixed_5b.branch1x1.conv.weight"] = np.zeros((64, 192, 3, 3), np.float32)
    del sd["Mixed_7c.branch_pool.bn.running_var"]
    sd["extra.weight"] = np.zeros(3, np.float32)
    path = tmp_path / "wrong.npz"
    np.savez(path, **sd)
    with pytest.raises(UserError) as e:
        inception.load_params(str(path))
    message = str(e.value)
    for part in ("wrong.npz", "extra.weight", "Mixed_7c.branch_pool.bn.running_var",
                 "Mixed_5b.branch1x1.conv.weight: got (64, 192, 3, 3), expected (64, 192, 1, 1)"):
        assert part in message


def test_missing_weights_file_says_where_to_get_one(tmp_path):
    with pytest.raises(UserError, match="pt_inception-2015-12-05"):
        inception.load_params(str(tmp_path / "nope.pth"))


def test_fid_of_gaussians_matches_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    # Diagonal covariances: tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # Full covariances against scipy's matrix square root (pytorch-fid's formula).
    q1, q2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = q1 @ q1.T + 0.1 * np.eye(5), q2 @ q2.T + 0.1 * np.eye(5)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_the_squared_shift():
    features = np.random.default_rng(1).normal(size=(50, 8))
    assert abs(fid.fid(features, features)) < 1e-9
    shift = np.arange(8.0)
    assert fid.fid(features, features + shift) == pytest.approx(shift @ shift, rel=1e-9)


def _kid_by_loops(x, y):
    k = lambda a, b: (a @ b / x.shape[1] + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_estimator():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(9, 4))
    assert fid.kid(x, y) == pytest.approx(_kid_by_loops(x, y), rel=1e-10)
    # Unbiased: for two samples of one distribution it averages to 0.
    draws = [fid.kid(rng.normal(size=(20, 4)), rng.normal(size=(20, 4))) for _ in range(300)]
    assert abs(np.mean(draws)) < 3 * np.std(draws) / np.sqrt(len(draws))
    assert fid.kid(x, x + 3.0) > 0.1
