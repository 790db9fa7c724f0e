"""Shared test helpers: fixture loading and tiny configs."""

from __future__ import annotations

import os

import numpy as np

from configs import default

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
NETS = ("G_A", "G_B", "D_A", "D_B")


def fixture(name: str) -> np.lib.npyio.NpzFile:
    return np.load(os.path.join(FIXTURES, name))


def state_dict(npz, prefix: str) -> dict[str, np.ndarray]:
    """The entries of `npz` under `prefix`, with the prefix removed."""
    return {k[len(prefix):]: npz[k] for k in npz.files if k.startswith(prefix)}


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def tiny_config(**overrides):
    """The golden fixture's model (ngf 8, ndf 8, 6 blocks) at 32x32, for fast tests.

    XLA's own convolutions: they compile in half the time of the CPU matmul forms,
    which the golden tests and tests/nn, tests/ops cover.
    """
    c = default.get_config()
    c.conv_impl = "xla"
    c.ngf = 8
    c.ndf = 8
    c.netG = "resnet_6blocks"
    c.crop_size = 32
    c.load_size = 36
    c.steps_per_epoch = 10
    for k, v in overrides.items():
        setattr(c, k, v)
    return c


def golden_config(**overrides):
    """The configuration of `train_two_steps_ngf8.npz` (pool 50, lsgan, 64x64 crops), with
    the convolutions a CPU user gets by default."""
    return tiny_config(**{"crop_size": 64, "load_size": 72, "conv_impl": "auto", **overrides})


def golden_batch(npz, step: int) -> dict[str, np.ndarray]:
    return {"A": nhwc(npz[f"step{step}/A_nchw"]), "B": nhwc(npz[f"step{step}/B_nchw"])}


def train_config(**overrides):
    """A training run of 6 steps (3 per epoch, 2 epochs) on tiny synthetic data."""
    c = tiny_config(
        dataset="synthetic", synthetic_train_size=6, synthetic_test_size=2,
        synthetic_image_size=40, batch_size=2, pool_size=4, n_epochs=1, n_epochs_decay=1,
        log_every=2, sample_every=4, checkpoint_every=3, keep_checkpoints=2,
        num_sample_images=2)
    for k, v in overrides.items():
        setattr(c, k, v)
    return c


def assert_step1_gradient(npz, net: str, ours, rel: float) -> None:
    """Our gradient of network `net` equals the fixture's `step1/grad/<net>/` to `rel` of
    its largest element (gradients of a golden step fixture, keyed as state_dicts)."""
    import jax

    from cyclegan_jax.torch_compat import params_from_state_dict

    ref = params_from_state_dict(state_dict(npz, f"before/{net}/")
                                 | state_dict(npz, f"step1/grad/{net}/"))["params"]
    largest = max(float(np.abs(r).max()) for r in jax.tree.leaves(ref))
    err = max(float(np.abs(np.asarray(a) - r).max())
              for a, r in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)))
    assert err <= rel * largest, (net, err, largest)


def params_equal(a, b) -> bool:
    import jax

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                      for x, y in zip(la, lb))


FAST_COMPILE_ENV = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}  # matches conftest.fast_compile


def fid_standin_state_dict() -> dict[str, np.ndarray]:
    """The deterministic stand-in Inception weights of `fid_inception_random.npz`.

    The rule of tests/fixtures/README.md: a crc32-seeded normal draw per key, scaled
    by what the key holds.
    """
    import json
    import zlib

    out = {}
    for key, shape in json.loads(str(fixture("fid_inception_random.npz")["keys"])):
        n = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape).astype(np.float32)
        if key.endswith("num_batches_tracked"):
            out[key] = np.zeros(shape, np.int64)
            continue
        if len(shape) == 4:
            n = n * np.float32(np.sqrt(2 / (shape[1] * shape[2] * shape[3])))
        elif key.startswith("fc."):
            n = n * np.float32(0.01)
        elif key.endswith(".running_var"):
            n = 1 + np.float32(0.1) * np.abs(n)
        elif key.endswith(".weight"):
            n = 1 + np.float32(0.1) * n
        else:
            n = np.float32(0.02) * n
        out[key] = n.astype(np.float32)
    return out


def write_folder_dataset(root) -> None:
    """A small official-layout dataset under `root` (a pathlib.Path): images of several
    sizes, modes and formats, a nested folder, a broken file and a non-image file."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("trainA", "trainB", "testA", "testB"):
        os.makedirs(root / split / "nested", exist_ok=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), np.uint8)).save(root / "trainA" / f"a{i}.png")
        Image.fromarray(rng.integers(0, 255, (45, 40, 3), np.uint8)).save(
            root / "trainB" / "nested" / f"b{i}.JPG", format="JPEG")
    Image.fromarray(rng.integers(0, 255, (40, 40), np.uint8), "L").save(root / "trainA" / "gray.png")
    Image.fromarray(rng.integers(0, 65535, (40, 40), np.uint16)).save(root / "trainB" / "deep.tif")
    Image.fromarray(rng.integers(0, 255, (40, 40, 4), np.uint8), "RGBA").save(root / "trainB" / "alpha.png")
    (root / "trainA" / "broken.jpg").write_bytes(b"not an image at all")
    (root / "trainA" / "notes.txt").write_text("ignored: not an image extension")
    for split in ("testA", "testB"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).save(root / split / "t.bmp")


def upload(local_dir, prefix: str) -> None:
    """Copies every file under `local_dir` to the same relative path below `prefix` (a URL)."""
    from cyclegan_jax import files

    for path in files.walk_files(local_dir):
        relative = os.path.relpath(path, files.resolve(local_dir))
        files.write_atomic(f"{prefix}/{relative}", files.read_bytes(path))


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
