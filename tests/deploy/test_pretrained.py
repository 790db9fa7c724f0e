"""Pretrained generators by name, from a real HTTP server on loopback (never the internet):
downloaded once, verified, cached, and refused when truncated, changed or of another
architecture."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax import pretrained
from cyclegan_jax.errors import UserError
from tests import helpers
from tests.helpers import ROOT

FIXTURE = os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks.pth")
FIXTURE_ARCHITECTURE = {"ngf": 8, "n_blocks": 6, "input_nc": 3, "output_nc": 3,
                        "norm": "instance"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; `/short/<file>` announces the whole file but sends half of it."""

    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802  (the http.server name)
        type(self).requests.append(self.path)
        if not self.path.startswith("/short/"):
            return super().do_GET()
        data = open(os.path.join(self.directory, self.path[len("/short/"):]), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.close_connection = True


@pytest.fixture
def server(tmp_path):
    """A server of `tmp_path/served`, which holds the fixture generator as horse2zebra.pth."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(FIXTURE, served / "horse2zebra.pth")
    handler = functools.partial(_Handler, directory=str(served))
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd, served
    httpd.shutdown()
    httpd.server_close()


def _offline(httpd):
    """Stops the server and closes its socket: connections are refused from here."""
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fixture_architecture(monkeypatch):
    # The served file is the small ngf-8 fixture, not a real 11 MB ResNet-9.
    monkeypatch.setattr(pretrained, "EXPECTED", FIXTURE_ARCHITECTURE)


def test_downloaded_once_then_loaded_offline_from_the_cache(tmp_path, server, fixture_architecture):
    url, httpd, _ = server
    cache = str(tmp_path / "cache")
    params = pretrained.load("horse2zebra", cache_dir=cache, base_url=url)
    assert _Handler.requests == ["/horse2zebra.pth"]
    assert helpers.params_equal(params, cyclegan_jax.load_generator(FIXTURE))
    digest = open(os.path.join(cache, "horse2zebra.pth.sha256")).read().strip()
    assert digest == hashlib.sha256(open(FIXTURE, "rb").read()).hexdigest()
    _offline(httpd)
    again = pretrained.load("horse2zebra", cache_dir=cache, base_url=url)
    assert helpers.params_equal(again, params) and _Handler.requests == ["/horse2zebra.pth"]


def test_a_truncated_download_is_detected_and_removed(tmp_path, server, fixture_architecture):
    url, _, _ = server
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="broke off|incomplete"):
        pretrained.load("horse2zebra", cache_dir=str(cache), base_url=url + "/short")
    assert os.listdir(cache) == []


def test_a_changed_cached_file_is_removed_and_fetched_again(tmp_path, server,
                                                            fixture_architecture, caplog):
    url, httpd, _ = server
    cache = tmp_path / "cache"
    pretrained.load("horse2zebra", cache_dir=str(cache), base_url=url)
    path = cache / "horse2zebra.pth"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte inside the archive's weights
    path.write_bytes(bytes(data))
    params = pretrained.load("horse2zebra", cache_dir=str(cache), base_url=url)
    assert "SHA-256 differs" in caplog.text and len(_Handler.requests) == 2
    assert helpers.params_equal(params, cyclegan_jax.load_generator(FIXTURE))
    path.write_bytes(bytes(data))
    _offline(httpd)  # changed again, and now offline: an error, and the file is gone
    with pytest.raises(UserError, match="cannot download"):
        pretrained.load("horse2zebra", cache_dir=str(cache), base_url=url)
    assert not path.exists()


def test_a_file_of_another_architecture_is_refused_and_not_kept(tmp_path, server):
    url, _, _ = server  # EXPECTED is the real ResNet-9 with ngf 64; the file is ngf 8
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="not the horse2zebra generator.*ngf=64"):
        pretrained.load("horse2zebra", cache_dir=str(cache), base_url=url)
    assert os.listdir(cache) == []


def test_unknown_names_list_the_known_ones_and_a_given_file_works_offline(tmp_path,
                                                                          fixture_architecture):
    with pytest.raises(UserError, match="known names are: apple2orange.*horse2zebra"):
        pretrained.load("horse2giraffe", cache_dir=str(tmp_path))
    params = pretrained.load("zebra2horse", cache_dir=str(tmp_path), file=FIXTURE,
                             base_url="http://127.0.0.1:9")  # nothing listens there
    assert sorted(os.listdir(tmp_path)) == ["zebra2horse.pth", "zebra2horse.pth.sha256"]
    assert helpers.params_equal(params, cyclegan_jax.load_generator(FIXTURE))


def test_eval_and_export_take_a_pretrained_name(tmp_path, server):
    url, _, _ = server
    # the subprocesses expect the real architecture: a mirror serves the fixture under its
    # name, so they must refuse it, naming the expected one (and keep nothing)
    env = {**os.environ, pretrained.BASE_URL_ENV: url,
           pretrained.CACHE_ENV: str(tmp_path / "cache")}
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photos / "a.png")
    for door, args in (("eval.py", [f"--input_dir={photos}", f"--output_dir={tmp_path / 'out'}"]),
                       ("export.py", [f"--output={tmp_path / 'g.jax'}"])):
        result = subprocess.run([sys.executable, os.path.join(ROOT, door),
                                 "--pretrained=horse2zebra", *args],
                                capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
        assert result.returncode != 0 and "not the horse2zebra generator" in result.stderr, door
    assert os.listdir(tmp_path / "cache") == [] and not (tmp_path / "g.jax").exists()
