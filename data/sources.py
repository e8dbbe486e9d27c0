"""The table of image sets that `data.download` fetches, and where each comes from.

Each `Source` names an archive, the pattern that selects the set's images
inside it and, where it is known in advance, its sha256; how many images
the set must hold is the registry's (`data.imagesets.IMAGE_SETS`). Where
the archives come from, and why the GitHub snapshots carry no pinned sha256,
is explained in the `data.download` module docstring, which `python -m
data.download --help` prints.
"""

import dataclasses

from data.imagesets import IMAGE_SETS


@dataclasses.dataclass(frozen=True)
class Source:
    """Where one image set comes from and how to unpack it.

    Args:
        name: folder created under the data root, e.g. `"Set5"`.
        url: archive to download (zip or tar, compressed or not).
        member_glob: pattern over archive member paths that selects the images,
            matched segment by segment with `fnmatch` (so `*` never crosses a
            `/`); the images are written flat into the set folder by file name.
        image_count: number of images the set must contain; None takes the
            registry's size (`data.imagesets.IMAGE_SETS`).
        sha256: expected sha256 of the archive, or `None` when it is not
            known in advance (the computed sum is printed instead).
    """

    name: str
    url: str
    member_glob: str
    image_count: int | None = None
    sha256: str | None = None

    def __post_init__(self):
        if self.image_count is None:
            object.__setattr__(self, "image_count", IMAGE_SETS[self.name].size)


def github_archive(repository, commit):
    """Returns the URL of the tar.gz snapshot of `repository` at `commit`."""
    return f"https://github.com/{repository}/archive/{commit}.tar.gz"


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K"
_SWINIR = github_archive("JingyunLiang/SwinIR", "6545850fbf8df298df73d81f3e8cba638787c8bd")
_DNCNN = github_archive("cszn/DnCNN", "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a")
_FFDNET = github_archive("cszn/FFDNet", "e787f46df2f374ff3591186706229cb9a0591fea")
_NEIGHBOR2NEIGHBOR = github_archive("TaoHuang2018/Neighbor2Neighbor",
                                    "e66389ebef1e64d306d8fcb95f096cf427243452")
_DENOISING_DATASETS = github_archive("majedelhelou/denoising_datasets",
                                     "58234876fef6f1b56306705c78dfd40cdb837b86")
_DCSCN = github_archive("jiny2001/dcscn-super-resolution", "d382bc30d41c94ac72f8cb148d61cc4864b3b380")

SOURCES = (
    Source("DIV2K_train_HR", f"{_DIV2K}/DIV2K_train_HR.zip", "DIV2K_train_HR/*.png",
           sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"),
    Source("DIV2K_valid_HR", f"{_DIV2K}/DIV2K_valid_HR.zip", "DIV2K_valid_HR/*.png",
           sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"),
    Source("Set5", _SWINIR, "*/testsets/Set5/HR/*.png"),
    Source("Set14", _DENOISING_DATASETS, "*/CSet14/*.png"),
    Source("BSD100", _NEIGHBOR2NEIGHBOR, "*/validation/BSD300/test/*.png"),
    Source("Urban100", _DENOISING_DATASETS, "*/CUrban100/*.png"),
    Source("Manga109", _DENOISING_DATASETS, "*/Manga109/*.png"),
    Source("Set12", _DNCNN, "*/testsets/Set12/*.png"),
    Source("BSD68", _DNCNN, "*/testsets/BSD68/*.png"),
    Source("CBSD68", _FFDNET, "*/testsets/CBSD68/*.png"),
    Source("Kodak24", _NEIGHBOR2NEIGHBOR, "*/validation/Kodak/*.png"),
    Source("McMaster", _FFDNET, "*/testsets/McMaster/*.tif"),
    Source("T91", _DCSCN, "*/data/yang91/*.bmp"),
    Source("Train400", _DNCNN, "*/TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400/*.png"),
)

# Names that stand for several sets, so that `--sets DIV2K` fetches both splits.
ALIASES = {"DIV2K": ("DIV2K_train_HR", "DIV2K_valid_HR")}
