"""What each network is, without building it: its tasks, scales, sites and blocks.

One `NetworkSpec` per network name holds the facts that code outside the
builder needs: the configuration checks a run against them when it loads
(without starting Keras: this module imports nothing), and each builder
checks its arguments against its own spec. The network `name` is built by
`build_<name>` in `sr_models/<name>.py`.
"""

import dataclasses
from typing import Callable

# Where a regularizer may go; `sr_models.placement.Placement` says what each one means.
PLACEMENTS = ("every_block", "blocks", "branch", "after_body", "before_last", "input")


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """The facts about one network that hold whatever its size.

    Args:
        title: The network's name in messages, e.g. `"EDSR"`.
        tasks: The task types it solves: `("sr",)` or `("denoise",)`.
        blocks: Callable `blocks(arguments)` giving how many blocks (or
            stages) a `Placement("blocks", ...)` may index, from the
            builder's keyword arguments (with `paper_sizes` filled in).
        scales: The super-resolution scales it supports; empty for a denoiser.
        branches: Whether it has residual branches, so that the `"branch"`
            placement has somewhere to go.
        noise_level: Whether it takes the noise level (sigma / 255) as a
            second input, besides the image.
        global_context: Whether an output pixel depends on the whole image,
            so that no tile overlap makes tiled inference exact.
        paper_sizes: For arguments whose None default depends on the image
            channels: `{channels: {argument: value}}`.
    """

    title: str
    tasks: tuple
    blocks: Callable[[dict], int]
    scales: tuple = ()
    branches: bool = True
    noise_level: bool = False
    global_context: bool = False
    paper_sizes: dict = dataclasses.field(default_factory=dict)

    def sized(self, arguments, channels):
        """Returns `arguments` with those left None set to the paper's size for `channels`."""
        sizes = self.paper_sizes.get(channels, {})
        return {**arguments, **{key: size for key, size in sizes.items() if arguments.get(key) is None}}

    def block_count(self, arguments, channels):
        """How many blocks a `blocks` placement may index, for the builder's `arguments`.

        Args:
            arguments: The builder's keyword arguments; those that count
                blocks (`num_blocks`, `depth`, ...) are required.
            channels: Image channels, for the sizes that depend on them.

        Returns:
            A positive integer.
        """
        return self.blocks(self.sized(arguments, channels))

    def check_scale(self, scale):
        """Raises a ValueError unless `scale` is one of the integer `scales`."""
        if isinstance(scale, bool) or not isinstance(scale, int) or scale not in self.scales:
            raise ValueError(f"Unsupported {self.title} scale. Expected one of {list(self.scales)}. "
                             f"Received: scale={scale!r}")


SPECS = {
    "edsr": NetworkSpec("EDSR", ("sr",), lambda arguments: arguments["num_blocks"], scales=(2, 3, 4)),
    "srresnet": NetworkSpec("SRResNet", ("sr",), lambda arguments: arguments["num_blocks"],
                            scales=(2, 3, 4)),
    # The blocks are the residual groups; the channel attention pools the whole feature map.
    "rcan": NetworkSpec("RCAN", ("sr",), lambda arguments: arguments["num_groups"], scales=(2, 3, 4),
                        global_context=True),
    "rrdbnet": NetworkSpec("RRDBNet", ("sr",), lambda arguments: arguments["num_blocks"], scales=(2, 4)),
    # The blocks of the plain convolution stacks are their middle layers.
    "vdsr": NetworkSpec("VDSR", ("sr",), lambda arguments: arguments["depth"] - 2, scales=(2, 3, 4),
                        branches=False),
    "fsrcnn": NetworkSpec("FSRCNN", ("sr",), lambda arguments: arguments["m"], scales=(2, 3, 4),
                          branches=False),
    "espcn": NetworkSpec("ESPCN", ("sr",), lambda arguments: 2, scales=(2, 3, 4), branches=False),
    "dncnn": NetworkSpec("DnCNN", ("denoise",), lambda arguments: arguments["depth"] - 2, branches=False),
    # The paper's sizes: 15 layers x 64 on gray images, 12 x 96 on colour ones.
    "ffdnet": NetworkSpec("FFDNet", ("denoise",), lambda arguments: arguments["depth"] - 2,
                          branches=False, noise_level=True,
                          paper_sizes={1: {"depth": 15, "filters": 64}, 3: {"depth": 12, "filters": 96}}),
    # The blocks are the seven stages: three encoder scales, the bottleneck, three decoder scales.
    "drunet": NetworkSpec("DRUNet", ("denoise",), lambda arguments: 7, noise_level=True),
}
