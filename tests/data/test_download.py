"""Tests for `data.download` against a local HTTP server; no internet access."""

import hashlib
import http.server
import io
import json
import re
import socket
import tarfile
import threading
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest

from data import download
from data.fetch import DownloadError
from data.sources import Source


def _png_bytes(seed):
    """Returns the bytes of a tiny random RGB PNG."""
    pixels = np.random.default_rng(seed).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    return iio.imwrite("<bytes>", pixels, extension=".png")


def _zip_archive(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, payload in members.items():
            bundle.writestr(name, payload)
    return buffer.getvalue()


def _tar_gz_archive(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            bundle.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


class _Server:
    """Serves in-memory files over HTTP on 127.0.0.1, with faults injected on request.

    It honours Range (unless told not to) and If-Range against each file's ETag
    (its sha256). `cut_after` maps a path to a byte count after which the next
    response to it is cut off; `content_types` maps a path to its Content-Type;
    `statuses` maps a path to an HTTP error status it answers with.
    """

    def __init__(self, files, honour_range=True, cut_after=None, content_types=None,
                 statuses=None):
        self.files = files
        self.honour_range = honour_range
        self.cut_after = dict(cut_after or {})
        self.content_types = content_types or {}
        self.statuses = statuses or {}
        self.requests = []  # (path, Range header, bytes sent)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path in server.statuses:
                    self.send_error(server.statuses[self.path])
                    return
                payload = server.files.get(self.path)
                if payload is None:
                    self.send_error(404)
                    return
                etag = f'"{_sha256(payload)}"'
                requested = self.headers.get("Range")
                match = re.fullmatch(r"bytes=(\d+)-", requested or "")
                unchanged = self.headers.get("If-Range") in (None, etag)
                start = int(match.group(1)) if match and server.honour_range and unchanged else 0
                if start >= len(payload) and start > 0:
                    self.send_error(416)
                    return
                body = payload[start:]
                cut = server.cut_after.pop(self.path, None)
                # Recorded before the body is sent: the client may finish (and the
                # test assert) as soon as the last byte arrives.
                server.requests.append((self.path, requested, len(body) if cut is None else cut))
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Content-Type",
                                 server.content_types.get(self.path, "application/octet-stream"))
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.close_connection = True

            def log_message(self, *arguments):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exception):
        self.httpd.shutdown()
        self.httpd.server_close()


IMAGES = {f"image_{index}.png": _png_bytes(index) for index in range(3)}
ZIP_ARCHIVE = _zip_archive(
    {**{f"pack/images/{name}": data for name, data in IMAGES.items()},
     "pack/README.txt": b"not an image", "__MACOSX/pack/images/._image_0.png": b"junk",
     "pack/images/thumbnails/image_0.png": b"a deeper folder that the glob must skip"}
)
TAR_ARCHIVE = _tar_gz_archive(
    {"snapshot-abc/test/Gray/one.png": IMAGES["image_0.png"],
     "snapshot-abc/test/Gray/two.png": IMAGES["image_1.png"],
     "snapshot-abc/test/Color/three.png": IMAGES["image_2.png"]}
)


def _sha256(payload):
    return hashlib.sha256(payload).hexdigest()


def _sources(server, zip_sha256=None):
    """The test table; `zip_sha256=False` leaves the zip without a pinned sum, like most sets."""
    zip_sha256 = _sha256(ZIP_ARCHIVE) if zip_sha256 is None else zip_sha256 or None
    return (
        Source("Zipped", server.url("/zipped.zip"), "pack/images/*.png", 3, zip_sha256),
        Source("TarGray", server.url("/snap.tar.gz"), "*/test/Gray/*.png", 2),
        Source("TarColor", server.url("/snap.tar.gz"), "*/test/Color/*.png", 1),
    )


@pytest.fixture
def server():
    with _Server({"/zipped.zip": ZIP_ARCHIVE, "/snap.tar.gz": TAR_ARCHIVE}) as running:
        yield running


def _quiet(message):
    pass


def test_download_extracts_matching_images_flat_into_set_folders(server, tmp_path):
    """Matching members land at the top of <root>/<set>/, byte for byte, and nothing else."""
    folders = download.download_sets(["Zipped", "TarGray", "TarColor"], tmp_path,
                                     sources=_sources(server), log=_quiet)
    assert sorted(path.name for path in folders["Zipped"].iterdir()) == sorted(IMAGES)
    for name, payload in IMAGES.items():
        assert (tmp_path / "Zipped" / name).read_bytes() == payload
    assert sorted(path.name for path in folders["TarGray"].iterdir()) == ["one.png", "two.png"]
    assert [path.name for path in folders["TarColor"].iterdir()] == ["three.png"]
    # The shared tar archive is fetched once; archives are removed after extraction.
    assert [request[0] for request in server.requests].count("/snap.tar.gz") == 1
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [download.ARCHIVE_FOLDER, "Zipped", "TarGray", "TarColor"])


def test_checksum_mismatch_names_url_and_both_sums_and_leaves_no_file(server, tmp_path):
    """A wrong sha256 raises with URL, expected and actual sums; no archive or set remains."""
    wrong = "0" * 64
    with pytest.raises(DownloadError) as error:
        download.download_sets(["Zipped"], tmp_path, sources=_sources(server, wrong), log=_quiet)
    message = str(error.value)
    assert server.url("/zipped.zip") in message
    assert wrong in message and _sha256(ZIP_ARCHIVE) in message
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []
    assert not (tmp_path / "Zipped").exists()


def test_cut_download_is_refused_then_resumed_with_only_the_remaining_bytes(tmp_path):
    """A transfer cut short is not kept as the archive; the next run asks for the rest only."""
    kept = len(ZIP_ARCHIVE) // 3
    with _Server({"/zipped.zip": ZIP_ARCHIVE}, cut_after={"/zipped.zip": kept}) as server:
        sources = _sources(server, zip_sha256=False)
        with pytest.raises(DownloadError, match=f"cut short: {kept:,} of {len(ZIP_ARCHIVE):,}"
                           f".* again to resume it from byte {kept:,} of "):
            download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
        assert not (tmp_path / "Zipped").exists()
        assert list((tmp_path / download.ARCHIVE_FOLDER).glob("*.part"))
        download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
        assert server.requests[-1] == ("/zipped.zip", f"bytes={kept}-", len(ZIP_ARCHIVE) - kept)
    assert (tmp_path / "Zipped" / "image_1.png").read_bytes() == IMAGES["image_1.png"]


def test_partial_file_of_a_changed_file_is_restarted(tmp_path):
    """If the file changed since the .part was written (ETag), the download starts over."""
    kept = len(ZIP_ARCHIVE) // 3
    with _Server({"/zipped.zip": ZIP_ARCHIVE}, cut_after={"/zipped.zip": kept}) as server:
        sources = _sources(server, zip_sha256=False)
        with pytest.raises(DownloadError, match="cut short"):
            download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
        changed = _zip_archive({f"pack/images/{name}": data[::-1] + data
                                for name, data in IMAGES.items()})
        server.files["/zipped.zip"] = changed
        download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
        assert server.requests[-1][2] == len(changed)
    name = "image_0.png"
    assert (tmp_path / "Zipped" / name).read_bytes() == IMAGES[name][::-1] + IMAGES[name]


def test_stale_partial_file_without_a_record_is_discarded(server, tmp_path):
    """A .part that nothing shows to be a prefix of the file is deleted, not continued."""
    sources = _sources(server)
    archive = download._archive_path(sources[0].url, tmp_path / download.ARCHIVE_FOLDER)
    archive.parent.mkdir()
    archive.with_name(archive.name + ".part").write_bytes(ZIP_ARCHIVE[:50][::-1])
    download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
    assert server.requests == [("/zipped.zip", None, len(ZIP_ARCHIVE))]
    assert sorted(path.name for path in (tmp_path / "Zipped").iterdir()) == sorted(IMAGES)


def test_html_error_page_is_rejected(tmp_path):
    """An HTML page served in place of the archive is an error, and nothing is cached."""
    page = b"<html><body>Moved</body></html>"
    with _Server({"/zipped.zip": page}, content_types={"/zipped.zip": "text/html"}) as server:
        with pytest.raises(DownloadError, match="web page"):
            download.download_sets(["Zipped"], tmp_path, sources=_sources(server, False),
                                   log=_quiet)
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []


def corrupted(payload):
    """The archive with bytes flipped inside its first member's data."""
    data = bytearray(payload)
    offset = data.index(IMAGES["image_0.png"][:8]) + 20
    data[offset:offset + 4] = bytes(255 - value for value in data[offset:offset + 4])
    return bytes(data)


def test_corrupt_archive_is_not_cached(tmp_path):
    """A zip whose member fails its CRC is deleted with a message, never extracted or kept."""
    with _Server({"/zipped.zip": corrupted(ZIP_ARCHIVE)}) as server:
        with pytest.raises(DownloadError, match="fails its CRC check"):
            download.download_sets(["Zipped"], tmp_path, sources=_sources(server, False),
                                   log=_quiet)
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []
    assert not (tmp_path / "Zipped").exists()


def test_corrupt_cached_archive_is_fetched_again(server, tmp_path):
    """An archive in the cache that no longer reads back is replaced by a new download."""
    sources = _sources(server, zip_sha256=False)
    archive = download._archive_path(sources[0].url, tmp_path / download.ARCHIVE_FOLDER)
    archive.parent.mkdir()
    archive.write_bytes(corrupted(ZIP_ARCHIVE))
    download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
    assert server.requests == [("/zipped.zip", None, len(ZIP_ARCHIVE))]
    assert (tmp_path / "Zipped" / "image_2.png").read_bytes() == IMAGES["image_2.png"]


def test_incomplete_set_folder_is_named_and_an_empty_one_refilled(server, tmp_path):
    """A set folder with too few images is refused naming it; an empty one is filled."""
    sources = _sources(server)
    (tmp_path / "Zipped").mkdir()
    download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
    assert len(list((tmp_path / "Zipped").iterdir())) == 3
    (tmp_path / "Zipped" / "image_0.png").unlink()
    with pytest.raises(DownloadError, match=r"holds 2 images, expected 3 .* Delete .*Zipped"):
        download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)


def test_server_ignoring_range_restarts_the_download_cleanly(tmp_path):
    """When the server answers 200 to a Range request the file is rewritten from byte 0."""
    with _Server({"/zipped.zip": ZIP_ARCHIVE}, honour_range=False) as server:
        sources = _sources(server)
        archive = download._archive_path(sources[0].url, tmp_path / download.ARCHIVE_FOLDER)
        archive.parent.mkdir()
        archive.with_name(archive.name + ".part").write_bytes(b"stale bytes, not a prefix")
        download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
        assert server.requests[0][2] == len(ZIP_ARCHIVE)
    assert sorted(path.name for path in (tmp_path / "Zipped").iterdir()) == sorted(IMAGES)


def test_second_run_downloads_nothing(server, tmp_path):
    """Sets already extracted are skipped without any HTTP request."""
    sources = _sources(server)
    download.download_sets(["Zipped", "TarGray"], tmp_path, sources=sources, log=_quiet)
    count = len(server.requests)
    download.download_sets(["Zipped", "TarGray"], tmp_path, sources=sources, log=_quiet)
    assert len(server.requests) == count == 2


def test_wrong_image_count_raises_and_creates_no_set_folder(server, tmp_path):
    """An archive whose glob matches fewer images than expected leaves no set folder."""
    source = Source("Short", server.url("/zipped.zip"), "pack/images/*.png", 4)
    with pytest.raises(DownloadError, match="Expected 4. Received: 3"):
        download.download_sets(["Short"], tmp_path, sources=(source,), log=_quiet)
    assert sorted(path.name for path in tmp_path.iterdir()) == [download.ARCHIVE_FOLDER]


def test_unknown_set_name_raises_value_error_listing_known_sets(tmp_path):
    """A typo in a set name fails before any download with the list of valid names."""
    with pytest.raises(ValueError, match=r"Expected one of .*Set5.*Received: name='Set6'"):
        download.download_sets(["Set5", "Set6"], tmp_path / "root", log=_quiet)
    assert not (tmp_path / "root").exists()


def test_alias_expands_to_both_div2k_splits():
    """`DIV2K` stands for the train and validation archives."""
    names = [source.name for source in download.resolve_sources(["DIV2K", "Set5"])]
    assert names == ["DIV2K_train_HR", "DIV2K_valid_HR", "Set5"]


def test_source_table_is_well_formed():
    """Names are unique, URLs are https and pinned checksums are 64 hex digits."""
    names = [source.name for source in download.SOURCES]
    assert len(names) == len(set(names))
    for source in download.SOURCES:
        assert source.url.startswith("https://")
        assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert source.image_count > 0
    required = {"DIV2K_train_HR", "DIV2K_valid_HR", "Set5", "Set14", "BSD100", "Urban100",
                "Manga109", "Set12", "BSD68", "CBSD68", "Kodak24", "McMaster", "T91",
                "Train400"}
    assert required <= set(names)


def test_list_flag_prints_every_set_with_its_status(tmp_path, capsys):
    """`--list` prints one row per set and marks present folders."""
    (tmp_path / "Set5").mkdir()
    assert download.main(["--list", "--root", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert re.search(r"^Set5\s+5\s+present", output, re.MULTILINE)
    assert re.search(r"^Set14\s+14\s+missing", output, re.MULTILINE)


def test_list_says_where_a_set_outside_the_download_folder_was_found(tmp_path):
    """A set only in another data root (the shared folder) is "found", with its folder."""
    root, shared = tmp_path / "datasets", tmp_path / "shared"
    (root / "Set5").mkdir(parents=True)
    (shared / "Set14").mkdir(parents=True)
    rows = {line.split()[0]: line.split() for line in
            download.describe_sources(root, elsewhere=[shared]).splitlines()}
    assert rows["Set5"][2] == "present" and rows["Set5"][-1] == str(root / "Set5")
    assert rows["Set14"][2] == "found" and rows["Set14"][-1] == str(shared / "Set14")
    assert rows["BSD100"][2] == "missing" and rows["BSD100"][-1] == "-"


def test_partial_file_the_server_cannot_continue_is_restarted(server, tmp_path):
    """A .part as long as the archive gets HTTP 416; the download restarts from byte 0."""
    sources = _sources(server)
    archive = download._archive_path(sources[0].url, tmp_path / download.ARCHIVE_FOLDER)
    archive.parent.mkdir()
    archive.with_name(archive.name + ".part").write_bytes(b"x" * len(ZIP_ARCHIVE))
    download.download_sets(["Zipped"], tmp_path, sources=sources, log=_quiet)
    assert server.requests == [("/zipped.zip", None, len(ZIP_ARCHIVE))]
    assert sorted(path.name for path in (tmp_path / "Zipped").iterdir()) == sorted(IMAGES)


def test_file_as_data_root_is_one_line_naming_it_and_exit_status_1(tmp_path, capsys):
    """`--root` naming a file (or a path below one) fails before any download, in one line."""
    not_a_folder = tmp_path / "datasets"
    not_a_folder.write_text("a file, not a folder")
    for root, says in ((not_a_folder, "not a folder"), (not_a_folder / "below", "Not a directory")):
        assert download.main(["--root", str(root), "--sets", "Set5"]) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: {root}: expected a ") and error.count("\n") == 1
        assert says in error and "Traceback" not in error
    with pytest.raises(DownloadError, match=f"^{re.escape(str(not_a_folder))}: .*not a folder"):
        download.download_sets(["Set5"], not_a_folder, log=_quiet)
    assert not_a_folder.read_text() == "a file, not a folder"


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_status_is_named_without_promising_a_resume(tmp_path, status):
    """A 404 or 500 says the server answered that status; running again would not resume it."""
    with _Server({"/zipped.zip": ZIP_ARCHIVE}, statuses={"/zipped.zip": status}) as server:
        with pytest.raises(DownloadError) as error:
            download.download_sets(["Zipped"], tmp_path, sources=_sources(server), log=_quiet)
    message = str(error.value)
    assert f"{server.url('/zipped.zip')}: the server answered HTTP {status}" in message
    assert "may have moved or the server may be down" in message
    assert "resume" not in message and "\n" not in message
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []


def test_unreachable_server_says_the_next_run_starts_over_not_resumes(tmp_path):
    """A refused connection with nothing saved does not promise a resume."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = Source("Zipped", f"http://127.0.0.1:{port}/zipped.zip", "pack/images/*.png", 3)
    with pytest.raises(DownloadError) as error:
        download.download_sets(["Zipped"], tmp_path, sources=(source,), log=_quiet)
    message = str(error.value)
    assert message.endswith("Run the command again to download it from the first byte.")
    assert "resume" not in message and "\n" not in message


def test_glob_matching_nothing_without_a_declared_count_says_what_was_expected(tmp_path):
    """With no image count, an empty match reads "Expected at least 1", never "Expected None"."""
    archive = tmp_path / "pack.zip"
    archive.write_bytes(ZIP_ARCHIVE)
    with pytest.raises(DownloadError) as error:
        download.extract_images(archive, "pack/nothing/*.png", tmp_path / "Set", None)
    message = str(error.value)
    assert "Expected at least 1. Received: 0" in message and "None" not in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pack.zip"]


def _partial_of(url, root, owners, validator='"etag"'):
    """Writes a `.part` of `url` under `root/.archives` with its record; returns the `.part`."""
    archive = download._archive_path(url, root / download.ARCHIVE_FOLDER)
    archive.parent.mkdir(exist_ok=True)
    partial = archive.with_name(archive.name + ".part")
    partial.write_bytes(b"the first bytes")
    record = {"url": url, "validator": validator}
    if owners is not None:
        record["for"] = owners
    partial.with_name(partial.name + ".json").write_text(json.dumps(record))
    return partial


def test_partial_download_of_a_moved_set_is_removed_once_the_set_is_complete(tmp_path):
    """A set cut short at its old address and then fetched from a new one leaves no .part."""
    kept = len(ZIP_ARCHIVE) // 3
    files = {"/old.zip": ZIP_ARCHIVE, "/zipped.zip": ZIP_ARCHIVE}
    with _Server(files, cut_after={"/old.zip": kept}) as server:
        moved = (Source("Zipped", server.url("/old.zip"), "pack/images/*.png", 3),)
        with pytest.raises(DownloadError, match="cut short"):
            download.download_sets(["Zipped"], tmp_path, sources=moved, log=_quiet)
        [record] = (tmp_path / download.ARCHIVE_FOLDER).glob("*.part.json")
        assert json.loads(record.read_text())["for"] == ["Zipped"]
        messages = []
        download.download_sets(["Zipped"], tmp_path, sources=_sources(server),
                               log=messages.append)
    assert list((tmp_path / download.ARCHIVE_FOLDER).iterdir()) == []
    assert any(message.startswith("Removed ") and server.url("/old.zip") in message
               for message in messages)
    assert sorted(path.name for path in (tmp_path / "Zipped").iterdir()) == sorted(IMAGES)


def test_partial_downloads_another_set_may_continue_are_kept(server, tmp_path):
    """A .part is kept without a record naming its sets, while one of its sets is not complete,
    or while a set in the table still comes from its URL."""
    kept = [
        _partial_of(server.url("/legacy.zip"), tmp_path, owners=None),
        _partial_of(server.url("/both.zip"), tmp_path, owners=["Zipped", "TarGray"]),
        _partial_of(server.url("/snap.tar.gz"), tmp_path, owners=["Zipped"]),
    ]
    removed = _partial_of(server.url("/moved.zip"), tmp_path, owners=["Zipped"])
    download.download_sets(["Zipped"], tmp_path, sources=_sources(server), log=_quiet)
    for partial in kept:
        assert partial.exists() and partial.with_name(partial.name + ".json").exists()
    assert not removed.exists() and not removed.with_name(removed.name + ".json").exists()
