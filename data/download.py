"""Download the training and benchmark image sets into `<root>/<SetName>/`.

Usage:

    python -m data.download --list
    python -m data.download --sets DIV2K Set5 Set14 BSD100 Urban100 [--root DIR]

Each archive is streamed to `<file>.part`, resumed with an HTTP Range request
after an interruption (only when the server confirms the file is unchanged),
checked against its Content-Length, its sha256 where one is pinned and its
own CRCs (every member is read back), and only then renamed into place; an
HTML error page is refused. A cached archive that no longer reads back is
downloaded again. The images it holds are extracted into a temporary folder
that is renamed to `<root>/<SetName>/` once complete, so a set folder that
exists is whole and a second run downloads nothing; a set folder with another
image count is refused with its path (an empty one is filled). Once every
requested set is complete, an unfinished `.part` download left in
`<root>/.archives/` is removed when its record says it was for those sets
only and no set in the table still comes from its URL (the set moved to
another address); any other `.part` is kept for a later run to continue.

Exit status: 0 when every requested set is in place; 1 when a download, a
check, an extraction or the data root fails (one line on stderr names the
URL or the path; running again resumes a transfer only where the message
says so); 2 for a usage error (no --sets or --list).

Sources. DIV2K comes from its authors (ETH Zurich); its sha256 sums are the
ones TensorFlow Datasets publishes for the same URLs. The benchmark sets come
from pinned commits of public GitHub repositories that ship them as test sets
(SwinIR, DnCNN, FFDNet, Neighbor2Neighbor, denoising_datasets,
dcscn-super-resolution). GitHub builds those archives on request and does
not promise byte-identical output over time, so their sha256 is `None`: the
command prints the sum it computed, and the number of images in every set is
checked instead. Manga109 is copyrighted by its authors and licensed for
academic research (http://www.manga109.org/en/); the copy used here is the
109-image super-resolution benchmark shipped by `denoising_datasets`.
"""

import argparse
import fnmatch
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import zipfile
from pathlib import Path
from pathlib import PurePosixPath

from data.fetch import DownloadError
from data.fetch import fetch
from data.fetch import hash_file
from data.fetch import read_record
from data.images import list_images
from data.imagesets import candidate_roots
from data.sources import ALIASES
from data.sources import SOURCES

ARCHIVE_FOLDER = ".archives"
_CHUNK_BYTES = 1 << 20


def resolve_sources(names, sources=SOURCES, aliases=None):
    """Expands aliases and maps set names to their `Source`, keeping order.

    Args:
        names: iterable of set names or aliases.
        sources: the table to look names up in.
        aliases: mapping of alias to set names; defaults to `ALIASES`.

    Returns:
        list of distinct `Source` objects.
    """
    aliases = ALIASES if aliases is None else aliases
    by_name = {source.name: source for source in sources}
    selected = []
    for name in names:
        for expanded in aliases.get(name, (name,)):
            if expanded not in by_name:
                known = sorted(by_name) + sorted(aliases)
                raise ValueError(f"Unknown image set. Expected one of {known}. Received: name={name!r}")
            if by_name[expanded] not in selected:
                selected.append(by_name[expanded])
    return selected


def _archive_members(archive):
    """Yields `(member path, open function)` for each regular file of a zip or tar."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                if not info.is_dir():
                    yield info.filename.removeprefix("./"), lambda info=info: bundle.open(info)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as bundle:
            for member in bundle:
                if member.isfile():
                    name = member.name.removeprefix("./")
                    yield name, lambda member=member: bundle.extractfile(member)
    else:
        raise DownloadError(f"{archive} is neither a zip nor a tar archive.")


def _glob_matches(member, pattern):
    """`fnmatch` applied per path segment, so `*` matches within one folder level."""
    parts, pattern_parts = member.split("/"), pattern.split("/")
    return len(parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(part, pattern_part) for part, pattern_part in zip(parts, pattern_parts)
    )


def extract_images(archive, member_glob, destination, image_count=None):
    """Extracts the archive members matching `member_glob` flat into `destination`.

    Members are written by file name alone into a temporary sibling folder,
    which is renamed to `destination` only when everything was written and the
    count matched, so `destination` never holds a partial set. Operating
    system files (`__MACOSX/`, dot files) are skipped.

    Args:
        archive: path of a zip or tar file.
        member_glob: pattern over member paths, `fnmatch` per path segment.
        destination: set folder to create; must not exist yet.
        image_count: number of matching members expected, or `None`.

    Returns:
        sorted list of the extracted file paths.
    """
    destination = Path(destination)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        for member, open_member in _archive_members(archive):
            file_name = PurePosixPath(member).name
            if "__MACOSX" in member or file_name.startswith("."):
                continue
            if not _glob_matches(member, member_glob):
                continue
            target = staging / file_name
            if target.exists():
                raise DownloadError(f"Two members of {archive} flatten to the same file name {file_name!r}; "
                                    f"narrow member_glob={member_glob!r}.")
            with open_member() as source, open(target, "wb") as handle:
                shutil.copyfileobj(source, handle, _CHUNK_BYTES)
        found = len(list(staging.iterdir()))
        if found == 0 or (image_count is not None and found != image_count):
            expected = "at least 1" if image_count is None else image_count
            raise DownloadError(f"Unexpected number of images in {archive} for member_glob={member_glob!r} "
                                f"(delete the archive to download it again). Expected {expected}. "
                                f"Received: {found}")
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(destination.iterdir())


def verify_archive(archive):
    """Raises `DownloadError` unless `archive` is a zip or tar whose every member reads back.

    Zip members are checked against their CRC-32; a compressed tar is read to
    the end, which checks its gzip/bzip2/xz trailer. An HTML error page, a
    truncated or a corrupted archive are all caught here, before the file is
    kept.
    """
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                damaged = bundle.testzip()
            if damaged is not None:
                raise DownloadError(f"{archive} is corrupt: member {damaged} fails its CRC check.")
            return
        for _, open_member in _archive_members(archive):
            with open_member() as stream:
                while stream.read(_CHUNK_BYTES):
                    pass
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        raise DownloadError(f"{archive} is corrupt or truncated ({error}).") from error


def _archive_path(url, archive_folder):
    """Returns the cache path of the archive at `url`, unique per URL."""
    parts = urllib.parse.urlsplit(url)
    return archive_folder / (parts.netloc + parts.path).replace("/", "_")


def _obtain_archive(url, sha256, archive_folder, log, owners=()):
    """Returns the path of a verified copy of the archive at `url`, downloading it if needed.

    `owners` names the sets the archive is for; an unfinished download records them.
    """
    archive = _archive_path(url, archive_folder)
    if archive.exists():
        if sha256 is not None:
            usable = hash_file(archive, hashlib.sha256()).hexdigest() == sha256.lower()
        else:
            try:
                verify_archive(archive)
                usable = True
            except DownloadError as error:
                log(f"{error}")
                usable = False
        if usable:
            log(f"Using the archive already at {archive}.")
            return archive
        log(f"{archive} is not the archive it should be; downloading it again.")
        archive.unlink()
    fetch(url, archive, sha256, log, verify=verify_archive, owners=owners)
    return archive


def _remove_abandoned_partials(archive_folder, complete, sources, log):
    """Deletes the unfinished downloads in `archive_folder` that no set can use any more.

    A `.part` file (with its `.part.json` record) goes only when its record
    names the sets it was for, all of them are in `complete`, and no set in
    `sources` still comes from its URL: a set whose address changed leaves
    such a file behind. A `.part` without a readable record, or of a URL some
    set still uses, is kept, since a later run may continue it.

    Args:
        archive_folder: the `.archives` folder of the data root.
        complete: names of the sets now whole in the data root.
        sources: the table of `Source` entries.
        log: function that receives progress messages.
    """
    if not archive_folder.is_dir():
        return
    used = {source.url for source in sources}
    for record in sorted(archive_folder.glob("*.part.json")):
        saved = read_record(record)
        owners, url = saved.get("for"), saved.get("url")
        if not isinstance(owners, list) or not owners or url in used:
            continue
        if not all(owner in complete for owner in owners):
            continue
        partial = record.with_name(record.name.removesuffix(".json"))
        partial.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        log(f"Removed {partial}: an unfinished download of {url}, which no set comes from any "
            f"more; {', '.join(owners)} complete.")


def download_sets(names, root, sources=SOURCES, aliases=None, keep_archives=False, log=print):
    """Downloads and extracts the named image sets into `<root>/<name>/`.

    Sets whose folder exists are skipped without any network access. Sets that
    share an archive are extracted from a single download.

    Args:
        names: set names or aliases (see `SOURCES` and `ALIASES`).
        root: data root folder; created if missing.
        sources: table of `Source` entries; tests pass their own.
        aliases: mapping of alias to set names; defaults to `ALIASES`.
        keep_archives: keep the downloaded archives in `<root>/.archives/`.
        log: function that receives progress messages.

    Returns:
        dict mapping each requested set name to its folder.
    """
    selected = resolve_sources(names, sources, aliases)
    root = Path(root)
    _make_root(root)
    pending = {}
    for source in selected:
        if _present(root / source.name, source, log):
            log(f"{source.name}: already present in {root / source.name}.")
        else:
            pending.setdefault(source.url, []).append(source)
    for url, group in pending.items():
        archive = _obtain_archive(url, group[0].sha256, root / ARCHIVE_FOLDER, log,
                                  owners=[source.name for source in group])
        for source in group:
            files = extract_images(archive, source.member_glob, root / source.name, source.image_count)
            log(f"{source.name}: {len(files)} images in {root / source.name}.")
        if not keep_archives:
            archive.unlink()
    _remove_abandoned_partials(root / ARCHIVE_FOLDER, {source.name for source in selected}, sources, log)
    return {source.name: root / source.name for source in selected}


def _make_root(root):
    """Creates the data root folder, or raises `DownloadError` naming it when that cannot be."""
    if root.exists() and not root.is_dir():
        raise DownloadError(
            f"{root}: expected a folder for the data root, received a file, which is not a folder."
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        where = error.filename or root
        raise DownloadError(
            f"{root}: expected a data root folder that can be created, received "
            f"'{error.strerror or error}' for {where}."
        ) from error


def _present(folder, source, log):
    """Whether a set's folder holds the whole set; an empty folder is removed, a partial one refused."""
    if not folder.is_dir():
        return False
    images = list_images(folder)
    if not any(folder.iterdir()):
        log(f"{source.name}: {folder} is empty; downloading the set into it.")
        folder.rmdir()
        return False
    if source.image_count is not None and len(images) != source.image_count:
        raise DownloadError(f"{folder} holds {len(images)} images, expected {source.image_count} for "
                            f"{source.name}. Delete {folder} to download the set again.")
    return True


def describe_sources(root, sources=SOURCES, aliases=None, elsewhere=()):
    """Returns a printable table of the known sets and where each is.

    Args:
        root: the folder downloads go to; a set there is "present".
        elsewhere: other data roots the evaluation reads (the shared folder
            beside the repository, say); a set only there is "found".
    """
    aliases = ALIASES if aliases is None else aliases
    lines = [f"{'set':<15} {'images':>6}  {'status':<8} {'sha256':<8} {'url':<60} folder"]
    for source in sources:
        folder = Path(root) / source.name
        status = "present" if folder.is_dir() else "missing"
        if status == "missing":
            for other in elsewhere:
                if (Path(other) / source.name).is_dir():
                    status, folder = "found", Path(other) / source.name
                    break
        checksum = "pinned" if source.sha256 else "printed"
        where = str(folder) if status != "missing" else "-"
        lines.append(f"{source.name:<15} {source.image_count:>6}  {status:<8} {checksum:<8} "
                     f"{source.url:<60} {where}")
    for alias, members in aliases.items():
        lines.append(f"alias {alias} = {' '.join(members)}")
    return "\n".join(lines)


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m data.download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", metavar="NAME", help="sets or aliases to fetch")
    parser.add_argument("--root", help="data root (default: $RESTORATION_DATA, else "
                                       "datasets/ in the repository)")
    parser.add_argument("--list", action="store_true", help="list the known sets and exit")
    parser.add_argument("--keep-archives", action="store_true",
                        help="keep the downloaded archives in <root>/.archives/")
    arguments = parser.parse_args(argv)
    # The first candidate, not the first existing one: downloads must never
    # land in a read-only shared folder that happens to exist.
    root, *elsewhere = candidate_roots(arguments.root)
    if arguments.list:
        print(describe_sources(root, elsewhere=elsewhere))
        return 0
    if not arguments.sets:
        parser.error("give --sets NAME [NAME ...] or --list")
    try:
        download_sets(arguments.sets, root, keep_archives=arguments.keep_archives)
    except (DownloadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        # A full disk or an unwritable folder while saving or extracting.
        print(f"error: {error.filename or root}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
