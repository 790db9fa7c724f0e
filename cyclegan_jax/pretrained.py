"""The official pretrained CycleGAN generators by name: downloaded once, verified, cached.

`load("horse2zebra")` returns the generator's params for `translate`. The file comes from
the official location (upstream's `scripts/download_cyclegan_model.sh`) into a cache
(`~/.cache/cyclegan_jax/pretrained`, or `$CYCLEGAN_JAX_PRETRAINED_DIR`, or `cache_dir=`).
No checksums are published for these files, so none is built in: a download is accepted
when it is complete (its Content-Length) and holds a state_dict of the architecture the
name implies, and its SHA-256 is then recorded beside it and checked at every later load.
A truncated, malformed or changed file is removed, never used. Without internet, a
cached file, or one given with `file=`, is all it needs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request

import jax
import numpy as np

from cyclegan_jax.errors import UserError
from cyclegan_jax.nn.networks import ResnetGenerator
from cyclegan_jax.torch_compat.pth import load_pth
from cyclegan_jax.torch_compat.state_dict import (StateDictError, describe, network_for,
                                                  params_from_state_dict)

# The names upstream's download_cyclegan_model.sh lists (commit 2a7afba).
NAMES = ("apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite",
         "horse2zebra", "zebra2horse", "monet2photo", "style_monet", "style_cezanne",
         "style_ukiyoe", "style_vangogh", "sat2map", "map2sat", "cityscapes_photo2label",
         "cityscapes_label2photo", "facades_photo2label", "facades_label2photo",
         "iphone2dslr_flower")
BASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models"
BASE_URL_ENV = "CYCLEGAN_JAX_PRETRAINED_URL"  # a mirror (tests: a local server)
CACHE_ENV = "CYCLEGAN_JAX_PRETRAINED_DIR"
# What every name's file must hold: upstream tests these models as the default
# `--model test` generator, resnet_9blocks with ngf 64 and instance norm, RGB to RGB.
EXPECTED = {"ngf": 64, "n_blocks": 9, "input_nc": 3, "output_nc": 3, "norm": "instance"}
_CHUNK = 1 << 20


def cache_folder(override: str | None = None) -> str:
    """Where downloaded generators are kept: `override`, `$CYCLEGAN_JAX_PRETRAINED_DIR`, or
    `~/.cache/cyclegan_jax/pretrained`."""
    return os.path.expanduser(override or os.environ.get(CACHE_ENV)
                              or "~/.cache/cyclegan_jax/pretrained")


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise UserError(f"no official pretrained CycleGAN generator is called {name!r}; the "
                        f"known names are: {', '.join(NAMES)}")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _params(path: str, name: str) -> dict:
    """The generator params in `path`, if it is a state_dict of the architecture `name`
    implies; `UserError` otherwise."""
    try:
        state_dict = load_pth(path)
        module = network_for(state_dict)
    except (UserError, StateDictError) as e:
        raise UserError(f"{path} is not a readable generator state_dict ({e})") from e
    found = {k: getattr(module, k, None) for k in EXPECTED}
    if not isinstance(module, ResnetGenerator) or found != EXPECTED:
        raise UserError(f"{path} holds {describe(module)}, not the {name} generator "
                        f"({', '.join(f'{k}={v}' for k, v in EXPECTED.items())})")
    return params_from_state_dict(state_dict)


def _download(url: str, target: str) -> None:
    """`url` into `target`, refusing a body shorter or longer than its Content-Length."""
    from tqdm import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310  (http as upstream)
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"cannot download {url} ({e}). Without internet, copy the file into "
                        f"{os.path.dirname(target)} or pass it with file=PATH "
                        "(eval.py/export.py --generator=PATH)") from e
    with response:
        expected = response.headers.get("Content-Length")
        total = int(expected) if expected is not None else None
        received = 0
        with open(target, "wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                           desc=os.path.basename(url)) as bar:
            while True:
                try:
                    block = response.read(_CHUNK)
                except Exception as e:  # noqa: BLE001  (http.client.IncompleteRead, resets)
                    raise UserError(f"the download of {url} broke off after {received} "
                                    f"bytes ({e}); run again") from e
                if not block:
                    break
                f.write(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise UserError(f"the download of {url} is incomplete: {received} of {total} bytes; "
                        "run again")


def _remove(*paths: str) -> None:
    for p in paths:
        if os.path.exists(p):
            os.remove(p)


def load(name: str, *, cache_dir: str | None = None, base_url: str | None = None,
         file: str | None = None) -> dict:
    """The params of the official pretrained generator `name` (one of `NAMES`).

    Args:
      name: e.g. "horse2zebra" (A -> B of that dataset; "zebra2horse" is the other way).
      cache_dir: where files are kept (see `cache_folder`).
      base_url: where `<name>.pth` is downloaded from (default the official location,
        or `$CYCLEGAN_JAX_PRETRAINED_URL`).
      file: a copy of the file obtained elsewhere (offline use); it is checked as a
        download is, then kept in the cache under `name`.
    """
    _check_name(name)
    folder = cache_folder(cache_dir)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.pth")
    digest_path = path + ".sha256"
    if os.path.exists(path):
        recorded = open(digest_path).read().strip() if os.path.exists(digest_path) else None
        if recorded is not None and recorded == _sha256(path):
            return _params(path, name)
        logging.warning("%s %s; removing it and fetching it again", path,
                        "has no recorded SHA-256 (an interrupted download)" if recorded is None
                        else "changed since it was downloaded (its SHA-256 differs)")
        _remove(path, digest_path)
    partial = path + ".part"
    try:
        if file is not None:
            if not os.path.isfile(file):
                raise UserError(f"pretrained file {file!r} does not exist")
            shutil.copyfile(file, partial)
        else:
            url = f"{(base_url or os.environ.get(BASE_URL_ENV) or BASE_URL).rstrip('/')}/{name}.pth"
            _download(url, partial)
        params = _params(partial, name)
        digest = _sha256(partial)
        os.replace(partial, path)
    finally:
        _remove(partial)
    with open(digest_path + ".tmp", "w") as f:
        f.write(digest + "\n")
    os.replace(digest_path + ".tmp", digest_path)
    logging.info("%s: %s (SHA-256 %s, %d parameters)", name, path, digest,
                 sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(params)))
    return params
