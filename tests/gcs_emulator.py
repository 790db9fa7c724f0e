"""Runs gcp-storage-emulator (arguments as its command line's) with the object generation
headers that real GCS sends on media downloads.

tensorstore, which Orbax writes checkpoints with, reads an object's generation from the
`x-goog-generation` header of a download, and the emulator (2026.7.19) sends none: once a
checkpoint's OCDBT manifest is read back (a tree of more than a few arrays), tensorstore
fails with "Malformed StorageGeneration". This adds the headers and changes nothing else.
"""

import sys

from gcp_storage_emulator.handlers import objects

_download = objects.download


def _download_with_generation(request, response, storage, *args, **kwargs):
    _download(request, response, storage, *args, **kwargs)
    try:
        obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    except Exception:  # noqa: BLE001  (not found: the original handler answered already)
        return
    response["x-goog-generation"] = obj["generation"]
    response["x-goog-metageneration"] = obj["metageneration"]


objects.download = _download_with_generation  # before the server module builds its routes

from gcp_storage_emulator.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
