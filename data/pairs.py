"""Paired image folders: inputs (low-resolution or noisy) matched to their targets by name.

A user's own pairs (camera pairs such as RealSR, a lab's captures, noisy/clean
pairs such as SIDD) come as two folders. A target `0001.png` is matched to
the input whose file stem is `template` with the target's stem in place of
`{}`: `{}` (the default) matches equal stems, `{}x4` matches
`0001x4.png` as in DIV2K's low-resolution folders (BasicSR's
`filename_tmpl`). Extensions may differ. Every pair is checked from the
file headers before any image is decoded: a target without its input, an
input without its target, and a target that, cropped to a multiple of the
scale (modcrop), is not `scale` times its input. `PairError` lists every
problem, one line each, naming the files.
"""

import dataclasses
from pathlib import Path

from data.images import image_size
from data.images import list_images

DEFAULT_TEMPLATE = "{}"


class PairError(ValueError):
    """Folders whose images do not pair up; the message has one line per problem."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """One input file and its target file; `name` is the target's stem."""

    name: str
    input: Path
    target: Path


def check_template(template):
    """None for a usable template, else what is wrong with it, as a phrase."""
    rest = template.replace("{}", "", 1) if isinstance(template, str) and "{}" in template else "{"
    if "{" in rest or "}" in rest:
        return "a file-name template holding {} once and no other braces, like {}x4"
    if "/" in template or "\\" in template:
        return "a file-name template without folder separators"
    return None


def match_pairs(input_folder, target_folder, template=DEFAULT_TEMPLATE):
    """Matches the images of two folders by name.

    Args:
        input_folder: the low-resolution (or noisy) images.
        target_folder: the high-resolution (or clean) images.
        template: the input stem with `{}` for the target stem.

    Returns:
        The `Pair`s, in target-name order.

    Raises:
        FileNotFoundError: a folder is missing.
        PairError: images without a partner, or two files with one stem;
            one line per problem, each naming the files.
    """
    problem = check_template(template)
    if problem is not None:
        raise PairError(f"Expected {problem}. Received: template={template!r}")
    prefix, suffix = template.split("{}")
    inputs, targets = _by_stem(list_images(input_folder)), _by_stem(list_images(target_folder))
    problems = [f"{paths[0]} and {paths[1]} share the stem {stem!r}"
                for stems in (inputs, targets) for stem, paths in stems.items() if len(paths) > 1]
    pairs, matched = [], set()
    for stem, (target, *_) in sorted(targets.items()):
        wanted = f"{prefix}{stem}{suffix}"
        if wanted not in inputs:
            problems.append(f"{target} has no input: expected {Path(input_folder) / wanted}.*")
            continue
        matched.add(wanted)
        pairs.append(Pair(stem, inputs[wanted][0], target))
    for stem, (path, *_) in sorted(inputs.items()):
        if stem not in matched:
            target_stem = _strip(stem, prefix, suffix)
            expected = (f"{Path(target_folder) / target_stem}.*" if target_stem
                        else f"a stem of the form {template!r}")
            problems.append(f"{path} has no target: expected {expected}")
    if len(inputs) != len(targets):
        problems.insert(0, f"{len(inputs)} inputs in {input_folder} against {len(targets)} targets "
                           f"in {target_folder}")
    if problems:
        raise PairError("\n".join(problems))
    if not pairs:
        raise PairError(f"{target_folder} and {input_folder} hold no images")
    return pairs


def check_sizes(pairs, scale=1):
    """Checks that each target, cropped to a multiple of `scale`, is `scale` times its input.

    Reads the file headers only.

    Raises:
        PairError: one line per pair that does not fit, naming both files.
    """
    problems = []
    for pair in pairs:
        (input_height, input_width), (height, width) = image_size(pair.input), image_size(pair.target)
        cropped = (height - height % scale, width - width % scale)
        if cropped != (input_height * scale, input_width * scale):
            crop = "" if cropped == (height, width) else f", {cropped[0]}x{cropped[1]} after modcrop"
            wanted = f"{cropped[0] // scale}x{cropped[1] // scale}" if scale > 1 else f"{height}x{width}"
            problems.append(f"{pair.input} is {input_height}x{input_width} but {pair.target} is "
                            f"{height}x{width}{crop}: expected an input of {wanted} (scale {scale})")
    if problems:
        raise PairError("\n".join(problems))


def _by_stem(paths):
    stems = {}
    for path in paths:
        stems.setdefault(path.stem, []).append(path)
    return stems


def _strip(stem, prefix, suffix):
    """The target stem a template would turn into `stem`, or None when it does not fit."""
    if len(stem) > len(prefix) + len(suffix) and stem.startswith(prefix) and stem.endswith(suffix):
        return stem[len(prefix):len(stem) - len(suffix)]
    return None
