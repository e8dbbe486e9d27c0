"""What each network is, without building it: its tasks, scales, arguments and blocks.

One `NetworkSpec` per network name holds the facts that code outside the
builder needs: the configuration reads its model sections from them and
checks a run against them when it loads (without starting Keras: this module
imports nothing), and each builder checks its arguments against its own
spec. The network `name` is built by `build_<name>` in `sr_models/<name>.py`,
whose keyword defaults are the `arguments` below.
"""

import dataclasses
from typing import Callable

# Where a regularizer may go; `sr_models.placement.Placement` says what each one means.
PLACEMENTS = ("every_block", "blocks", "branch", "after_body", "before_last", "input")


@dataclasses.dataclass(frozen=True)
class Argument:
    """A builder argument that a configuration may set.

    Args:
        annotation: Its type: `int`, `float`, `bool`, `int | None`, `tuple[int, ...]`.
        default: The builder's default.
        expected: What a valid value is, for messages; None when any value
            of the type is valid.
        check: Callable taking a value of the type and returning whether it is
            valid; None when any is.
    """

    annotation: object
    default: object
    expected: str | None = None
    check: Callable | None = None

    def accepts(self, value):
        """Whether `value` is of the annotation's type (None where the default is) and passes `check`."""
        if value is None:
            return self.default is None
        return _of_type(value, self.annotation) and (self.check is None or self.check(value))


def _of_type(value, annotation):
    if annotation == tuple[int, ...]:
        return isinstance(value, (list, tuple)) and all(_of_type(item, int) for item in value)
    if annotation is bool or isinstance(value, bool):
        return annotation is bool and isinstance(value, bool)
    return isinstance(value, (int, float) if annotation is float else int)


def _count(default, minimum=1, annotation=int):
    """An integer argument of at least `minimum` (a depth, a width, a block count)."""
    expected = "an integer > 0" if minimum == 1 else f"an integer >= {minimum}"
    return Argument(annotation, default, expected, lambda value: value >= minimum)


def _scale_factor(default):
    """A positive number, such as a residual scaling."""
    return Argument(float, default, "a number > 0", lambda value: value > 0)


_CHANNELS = _count(1)


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """The facts about one network that hold whatever its size.

    Args:
        title: The network's name in messages, e.g. `"EDSR"`.
        tasks: The task types it solves: `("sr",)` or `("denoise",)`.
        blocks: Callable `blocks(arguments)` giving how many blocks (or
            stages) a `Placement("blocks", ...)` may index, from the
            builder's keyword arguments (with `paper_sizes` filled in).
        blocks_are: What those blocks are, for people: `"the residual blocks"`.
        scales: The super-resolution scales it supports; empty for a denoiser.
        branches: Whether it has residual branches, so that the `"branch"`
            placement has somewhere to go.
        noise_level: Whether it takes the noise level (sigma / 255) as a
            second input, besides the image.
        global_context: Whether an output pixel depends on the whole image,
            so that no tile overlap makes tiled inference exact.
        arguments: The builder's keyword arguments that a configuration
            sets, name to `Argument` (the task gives `scale` and `channels`).
        relations: Callable `relations(arguments)` yielding `(name, expected,
            received)` for arguments that are invalid together; None if none are.
        paper_sizes: For arguments whose None default depends on the image
            channels: `{channels: {argument: value}}`.
    """

    title: str
    tasks: tuple
    blocks: Callable[[dict], int]
    blocks_are: str
    scales: tuple = ()
    branches: bool = True
    noise_level: bool = False
    global_context: bool = False
    arguments: dict = dataclasses.field(default_factory=dict)
    relations: Callable | None = None
    paper_sizes: dict = dataclasses.field(default_factory=dict)

    def defaults(self):
        """The builder's keyword arguments at their defaults, name to value."""
        return {name: argument.default for name, argument in self.arguments.items()}

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

    def check(self, arguments):
        """Raises a ValueError for the first builder argument that this spec refuses.

        Args:
            arguments: The builder's arguments by name (its `locals()` on
                entry): `scale`, `channels` and those in `arguments` are
                checked, the others left to the builder. A None passes where
                the default is None (a paper size).
        """
        if self.scales:
            self.check_scale(arguments["scale"])
        for name, argument in {**self.arguments, "channels": _CHANNELS}.items():
            if not argument.accepts(arguments[name]):
                raise ValueError(f"Expected `{name}` to be {argument.expected}. "
                                 f"Received: {name}={arguments[name]!r}")
        for name, expected, received in self.relations(arguments) if self.relations else ():
            raise ValueError(f"Expected `{name}` to be {expected}. Received: {name}={received!r}")

    def check_scale(self, scale):
        """Raises a ValueError unless `scale` is one of the integer `scales`."""
        if isinstance(scale, bool) or not isinstance(scale, int) or scale not in self.scales:
            raise ValueError(f"Unsupported {self.title} scale. Expected one of {list(self.scales)}. "
                             f"Received: scale={scale!r}")


def _divides_filters(arguments):
    if arguments["filters"] % arguments["reduction"]:
        yield "reduction", f"a divisor of filters ({arguments['filters']})", arguments["reduction"]


_FOUR_WIDTHS = Argument(tuple[int, ...], (64, 128, 256, 512), "a list of four integers > 0",
                        lambda value: len(value) == 4 and all(count >= 1 for count in value))

SPECS = {
    "edsr": NetworkSpec("EDSR", ("sr",), lambda arguments: arguments["num_blocks"], "the residual blocks",
                        scales=(2, 3, 4), arguments={"num_blocks": _count(16), "filters": _count(64),
                                                     "res_scale": _scale_factor(1.0)}),
    "srresnet": NetworkSpec("SRResNet", ("sr",), lambda arguments: arguments["num_blocks"],
                            "the residual blocks", scales=(2, 3, 4),
                            arguments={"num_blocks": _count(16), "filters": _count(64)}),
    # The channel attention pools the whole feature map.
    "rcan": NetworkSpec("RCAN", ("sr",), lambda arguments: arguments["num_groups"], "the residual groups",
                        scales=(2, 3, 4), global_context=True, relations=_divides_filters,
                        arguments={"num_groups": _count(10), "num_blocks": _count(20), "filters": _count(64),
                                   "reduction": _count(16), "res_scale": _scale_factor(1.0)}),
    "rrdbnet": NetworkSpec("RRDBNet", ("sr",), lambda arguments: arguments["num_blocks"], "the RRDB blocks",
                           scales=(2, 4),
                           arguments={"num_blocks": _count(23), "filters": _count(64), "growth": _count(32)}),
    "vdsr": NetworkSpec("VDSR", ("sr",), lambda arguments: arguments["depth"] - 2,
                        "the depth - 2 middle layers", scales=(2, 3, 4), branches=False,
                        arguments={"depth": _count(20, minimum=3), "filters": _count(64)}),
    "fsrcnn": NetworkSpec("FSRCNN", ("sr",), lambda arguments: arguments["m"], "the m mapping layers",
                          scales=(2, 3, 4), branches=False,
                          arguments={"d": _count(56), "s": _count(12), "m": _count(4)}),
    "srcnn": NetworkSpec("SRCNN", ("sr",), lambda arguments: 2, "the 2 hidden layers", scales=(2, 3, 4),
                         branches=False, arguments={"filters": _count(64), "mapping_filters": _count(32),
                                                    "mapping_kernel": _count(5)}),
    "espcn": NetworkSpec("ESPCN", ("sr",), lambda arguments: 2, "the 2 hidden layers", scales=(2, 3, 4),
                         branches=False, arguments={"filters": _count(64, minimum=2)}),
    "dncnn": NetworkSpec("DnCNN", ("denoise",), lambda arguments: arguments["depth"] - 2,
                         "the depth - 2 middle layers", branches=False,
                         arguments={"depth": _count(17, minimum=3), "filters": _count(64),
                                    "batch_norm": Argument(bool, True, "true or false"),
                                    "output_bias": Argument(bool, False, "true or false")}),
    # The paper's sizes: 15 layers x 64 on gray images, 12 x 96 on colour ones.
    "ffdnet": NetworkSpec("FFDNet", ("denoise",), lambda arguments: arguments["depth"] - 2,
                          "the depth - 2 middle layers", branches=False, noise_level=True,
                          arguments={"depth": _count(None, minimum=3, annotation=int | None),
                                     "filters": _count(None, annotation=int | None)},
                          paper_sizes={1: {"depth": 15, "filters": 64}, 3: {"depth": 12, "filters": 96}}),
    "drunet": NetworkSpec("DRUNet", ("denoise",), lambda arguments: 7,
                          "the 7 stages: down0, down1, down2, body, up2, up1, up0", noise_level=True,
                          arguments={"filters": _FOUR_WIDTHS, "num_blocks": _count(4)}),
}
