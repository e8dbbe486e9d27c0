"""Resumable, checked HTTP downloads with the standard library only.

`fetch` streams a URL to `<file>.part`, continues an interrupted transfer
with an HTTP Range request, checks the byte count against Content-Length,
the sha256 when one is known and the content with a `verify` function, and
only then renames the file into place. A `.part` is continued only when
`<file>.part.json` records that it came from the same URL and the server can
confirm (`If-Range` with its ETag or Last-Modified) that the file has not
changed since; otherwise it is discarded and the download starts over. The
record also names what the file is for (`owners`), so that a caller can tell
a partial file it no longer needs from one it may still continue.

After a broken connection or a transfer cut short the error says whether
running again resumes (the record vouches for the bytes kept) or starts over;
after an HTTP error status it names the status, since running again will not
help until the address or the server is fixed.
"""

import hashlib
import http.client
import json
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


def _open(url, offset, validator=None):
    """Opens `url`, asking for the bytes from `offset` on (if unchanged) when it is positive."""
    request = urllib.request.Request(url, headers={"User-Agent": "dropblock-restoration"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        request.add_header("If-Range", validator)
    return urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)


def record_path(partial):
    """The `<file>.part.json` record that notes where `partial` comes from."""
    return partial.with_name(partial.name + ".json")


def read_record(record):
    """The fields of a `.part.json` record, or `{}` when it is missing or unreadable."""
    try:
        saved = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _vouched_bytes(url, partial):
    """Bytes of `partial` that a later run can continue: 0 unless its record vouches for them."""
    saved = read_record(record_path(partial))
    if saved.get("url") != url or not saved.get("validator"):
        return 0
    try:
        return partial.stat().st_size
    except OSError:
        return 0


def _resumable_offset(url, partial, record, log):
    """Bytes of `partial` that can be continued: 0 unless its record vouches for them."""
    if not partial.exists():
        record.unlink(missing_ok=True)
        return 0, None
    saved = read_record(record)
    if saved.get("url") == url and saved.get("validator"):
        return partial.stat().st_size, saved["validator"]
    log(f"{partial} cannot be shown to be a prefix of {url}; downloading from the first byte.")
    partial.unlink()
    record.unlink(missing_ok=True)
    return 0, None


def _record(record, url, response, owners):
    """Notes where a new `.part` comes from (to continue it) and what it is for (to spot it abandoned)."""
    validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
    record.write_text(json.dumps({"url": url, "validator": validator, "for": list(owners)}))


def hash_file(path, digest):
    """Feeds the bytes of the file at `path` into the `hashlib` object `digest`."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest


def _copy(response, handle, digest, written, log):
    """Copies `response` into `handle`, logging every tenth of the expected size.

    Returns:
        `(written, expected)`: bytes in the file now, and the total the
        server announced (`None` without a Content-Length).
    """
    length = response.headers.get("Content-Length")
    expected = written + int(length) if length is not None else None
    total = expected or 0
    next_report = written + total // 10
    closed = False
    while not closed:
        try:
            chunk = response.read(_CHUNK_BYTES)
        except http.client.IncompleteRead as error:
            # The connection closed early: keep what came, the byte count says the rest.
            chunk, closed = error.partial, True
        if not chunk:
            break
        handle.write(chunk)
        digest.update(chunk)
        written += len(chunk)
        if total >= 100 * _CHUNK_BYTES and written >= next_report:
            log(f"  {written / 2**20:.0f} of {total / 2**20:.0f} MiB")
            next_report += total // 10
    return written, expected


def _stream(url, partial, log, owners):
    """Writes `url` into `partial`, resuming it when the server allows it.

    Returns:
        the sha256 `hashlib` object of the whole file.
    """
    record = record_path(partial)
    offset, validator = _resumable_offset(url, partial, record, log)
    try:
        response = _open(url, offset, validator)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not offset:
            raise
        # The partial file is not a prefix the server can continue; start over.
        log(f"Server refused to resume {url}; restarting from the first byte.")
        partial.unlink()
        offset, response = 0, _open(url, 0)
    with response:
        if response.headers.get("Content-Type", "").split(";")[0].strip() == "text/html":
            raise DownloadError(f"{url} answered with a web page, not a file (HTTP {response.status}); the "
                                "address may have moved. Nothing was saved.")
        resumed = offset > 0 and response.status == 206
        if resumed and _content_range_start(response) != offset:
            partial.unlink()
            record.unlink(missing_ok=True)
            raise DownloadError(f"Server answered a resume of {url} with the wrong range, so the partial "
                                f"file was deleted. Expected a range starting at byte {offset}. Received: "
                                f"Content-Range={response.headers.get('Content-Range')!r}")
        if offset and not resumed:
            log(f"The file at {url} changed or the server ignored the Range request; "
                "restarting from the first byte.")
        digest = hashlib.sha256()
        if resumed:
            log(f"Resuming {url} at byte {offset}.")
            hash_file(partial, digest)
        else:
            _record(record, url, response, owners)
        with open(partial, "ab" if resumed else "wb") as handle:
            written, expected = _copy(response, handle, digest, offset if resumed else 0, log)
    if expected is not None and written != expected:
        raise DownloadError(
            f"The download of {url} was cut short: {written:,} of {expected:,} bytes arrived. "
            f"{_next_step(url, partial)}"
        )
    return digest


def _next_step(url, partial):
    """What running the command again will do after a cut transfer: resume, or start over."""
    kept = _vouched_bytes(url, partial)
    if kept:
        return f"Run the command again to resume it from byte {kept:,} of {partial}."
    return "Run the command again to download it from the first byte."


def _http_error_message(url, error):
    """One line for an HTTP error status: the server answered, so running again will not resume."""
    reason = f" {error.reason}" if error.reason else ""
    return (f"Could not download {url}: the server answered HTTP {error.code}{reason}; the "
            "address may have moved or the server may be down.")


def fetch(url, destination, sha256=None, log=print, verify=None, owners=()):
    """Downloads `url` to `destination` through `<destination>.part`.

    An existing `.part` file is continued with an HTTP Range request when its
    record shows it is a prefix of the same, unchanged file; otherwise, or when
    the server ignores the request, the download restarts from the first byte.
    The file is renamed into place only once all the announced bytes arrived,
    its sha256 matched `sha256` and `verify` accepted it; a mismatch or a
    rejection deletes the partial file.

    Args:
        url: address to download.
        destination: final path of the file.
        sha256: expected hex digest, or `None` to accept any content.
        log: function that receives progress messages.
        verify: optional function of the downloaded path that raises
            `DownloadError` for unusable content (a corrupt archive).
        owners: names of what the file is for (the image sets of an
            archive), kept in the `.part.json` record so that a partial file
            left behind can later be recognised as abandoned.

    Returns:
        the sha256 hex digest of the downloaded file.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    log(f"Downloading {url}")
    try:
        actual = _stream(url, partial, log, owners).hexdigest()
    except urllib.error.HTTPError as error:
        raise DownloadError(_http_error_message(url, error)) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        # A connection that failed or broke: whatever arrived is kept for the next run.
        raise DownloadError(
            f"Could not download {url} into {partial}: {error}. {_next_step(url, partial)}"
        ) from error
    if sha256 is not None and actual != sha256.lower():
        partial.unlink()
        record_path(partial).unlink(missing_ok=True)
        raise DownloadError(f"Checksum mismatch for {url} (file {destination}): expected sha256 {sha256}, "
                            f"received sha256 {actual}. The partial file was deleted.")
    if verify is not None:
        try:
            verify(partial)
        except DownloadError:
            partial.unlink()
            record_path(partial).unlink(missing_ok=True)
            raise
    if sha256 is None:
        log(f"No sha256 is recorded for {url}; computed sha256 {actual}.")
    os.replace(partial, destination)
    record_path(partial).unlink(missing_ok=True)
    return actual
