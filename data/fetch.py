"""Resumable, checksummed HTTP downloads with the standard library only.

`fetch` streams a URL to `<file>.part`, continues an interrupted transfer
with an HTTP Range request (or starts over when the server ignores it),
checks the sha256 when one is known and renames the file into place.
"""

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

_CHUNK_BYTES = 1 << 20
_TIMEOUT_SECONDS = 60


class DownloadError(RuntimeError):
    """A download, checksum or extraction step failed; the message says which."""


def _content_range_start(response):
    """Returns the first byte offset of a 206 response, or None."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _open(url, offset):
    """Opens `url`, asking for the bytes from `offset` on when it is positive."""
    request = urllib.request.Request(url, headers={"User-Agent": "dropblock-restoration"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)


def hash_file(path, digest):
    """Feeds the bytes of the file at `path` into the `hashlib` object `digest`."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest


def _copy(response, handle, digest, written, log):
    """Copies `response` into `handle`, logging every tenth of the expected size."""
    total = written + int(response.headers.get("Content-Length") or 0)
    next_report = written + total // 10
    for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
        handle.write(chunk)
        digest.update(chunk)
        written += len(chunk)
        if total >= 100 * _CHUNK_BYTES and written >= next_report:
            log(f"  {written / 2**20:.0f} of {total / 2**20:.0f} MiB")
            next_report += total // 10


def _stream(url, partial, log):
    """Writes `url` into `partial`, resuming it when the server allows it.

    Returns:
        the sha256 `hashlib` object of the whole file.
    """
    offset = partial.stat().st_size if partial.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not offset:
            raise
        # The partial file is not a prefix the server can continue; start over.
        log(f"Server refused to resume {url}; restarting from the first byte.")
        partial.unlink()
        offset, response = 0, _open(url, 0)
    with response:
        resumed = offset > 0 and response.status == 206
        if resumed and _content_range_start(response) != offset:
            partial.unlink()
            raise DownloadError(
                f"Server answered a resume of {url} with the wrong range, so the partial "
                f"file was deleted. Expected a range starting at byte {offset}. Received: "
                f"Content-Range={response.headers.get('Content-Range')!r}"
            )
        if offset and not resumed:
            log(f"Server ignored the Range request for {url}; restarting from the first byte.")
        digest = hashlib.sha256()
        if resumed:
            log(f"Resuming {url} at byte {offset}.")
            hash_file(partial, digest)
        with open(partial, "ab" if resumed else "wb") as handle:
            _copy(response, handle, digest, offset if resumed else 0, log)
    return digest


def fetch(url, destination, sha256=None, log=print):
    """Downloads `url` to `destination` through `<destination>.part`.

    An existing `.part` file is continued with an HTTP Range request; when the
    server ignores the request the download restarts from the first byte. The
    file is renamed into place only after its sha256 matched `sha256`; on a
    mismatch the partial file is deleted.

    Args:
        url: address to download.
        destination: final path of the file.
        sha256: expected hex digest, or `None` to accept any content.
        log: function that receives progress messages.

    Returns:
        the sha256 hex digest of the downloaded file.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    log(f"Downloading {url}")
    try:
        actual = _stream(url, partial, log).hexdigest()
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(
            f"Could not download {url} into {partial}: {error}. Run the command again "
            "to resume."
        ) from error
    if sha256 is not None and actual != sha256.lower():
        partial.unlink()
        raise DownloadError(
            f"Checksum mismatch for {url} (file {destination}): expected sha256 {sha256}, "
            f"received sha256 {actual}. The partial file was deleted."
        )
    if sha256 is None:
        log(f"No sha256 is recorded for {url}; computed sha256 {actual}.")
    os.replace(partial, destination)
    return actual
