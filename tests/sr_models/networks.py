"""The test table of the networks: published parameter counts, and a small version of each."""

# Parameter counts of the reference implementations (BasicSR's EDSR, MSRResNet, RCAN and RRDBNet;
# the papers' SRCNN, VDSR, FSRCNN and ESPCN with biases, FSRCNN with per-channel PReLU; KAIR's DnCNN,
# FFDNet and UNetRes), worked out from their layer shapes, and the rounded counts the papers
# quote: (name, builder arguments, exact, rounded or None).
PUBLISHED = [
    ("edsr", {"scale": 2}, 1_369_859, 1.37e6),
    ("srresnet", {"scale": 4}, 1_517_571, 1.52e6),
    ("srresnet", {"scale": 2}, 1_369_859, None),
    ("srresnet", {"scale": 3}, 1_554_499, None),
    ("rcan", {"scale": 2}, 15_444_643, 15.4e6),
    ("rcan", {"scale": 3}, 15_629_283, None),
    ("rcan", {"scale": 4}, 15_592_355, 15.6e6),
    ("rrdbnet", {"scale": 4}, 16_697_987, 16.7e6),
    ("rrdbnet", {"scale": 2}, 16_703_171, None),
    ("vdsr", {"scale": 2}, 665_921, 0.67e6),
    ("fsrcnn", {"scale": 3}, 12_809, 12.5e3),
    ("srcnn", {"scale": 3}, 57_281, 57_184),
    ("espcn", {"scale": 3}, 22_729, None),
    ("espcn", {"scale": 2}, 21_284, None),
    ("dncnn", {"channels": 1}, 558_016, 0.56e6),
    ("ffdnet", {"channels": 1}, 485_316, 0.49e6),
    ("ffdnet", {"channels": 3}, 852_108, None),
    ("drunet", {"channels": 3}, 32_640_960, 32.64e6),
    ("drunet", {"channels": 1}, 32_638_656, None),
]

# Small versions of each network: the same structure, few blocks and channels, at least two blocks
# where the size allows (a placement on block 1 needs them).
SMALL = {
    "edsr": {"num_blocks": 2, "filters": 8},
    "srresnet": {"num_blocks": 2, "filters": 8},
    "rcan": {"num_groups": 2, "num_blocks": 1, "filters": 8, "reduction": 4},
    "rrdbnet": {"num_blocks": 2, "filters": 8, "growth": 4},
    "vdsr": {"depth": 5, "filters": 8},
    "fsrcnn": {"d": 8, "s": 4, "m": 2},
    "srcnn": {"filters": 8, "mapping_filters": 4, "mapping_kernel": 1},
    "espcn": {"filters": 8},
    "dncnn": {"depth": 5, "filters": 8},
    "ffdnet": {"depth": 5, "filters": 8},
    "drunet": {"filters": (4, 8, 8, 16), "num_blocks": 1},
}
