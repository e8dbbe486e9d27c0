"""Where a regularizer goes in a network, and the helper that puts it there.

A builder never branches on which regularizer is used: it asks a
`NetworkAssembler` for each convolution and passes each candidate site
through it. The assembler consults the `Regularizer` (a layer factory, a
convolution factory, or both) and its `Placement`, so switching a regularizer
on or off is a factory swap, and `regularizer=None` gives the plain network.
"""

import dataclasses
import random
from typing import Callable
from typing import Optional

import keras

from sr_models.specs import PLACEMENTS

_BLOCK_PLACEMENTS = ("every_block", "blocks", "branch")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where in a network a regularizer is inserted.

    The positions, for a network with residual blocks (EDSR) or plain
    convolution stages (DnCNN):

    - `"every_block"`: after each residual block's output (after its skip
      addition), or after each conv+BN+ReLU stage of DnCNN.
    - `"blocks"`: like `"every_block"`, but only after the blocks whose
      zero-based indices are listed in `blocks`.
    - `"branch"`: inside each residual block, on the residual branch before
      the skip addition; this is where stochastic depth goes.
    - `"after_body"`: after the body (after EDSR's global skip addition, after
      DnCNN's last middle stage).
    - `"before_last"`: right before the last convolution, as in Reflash
      Dropout.
    - `"input"`: on the network input; this is where cutout goes.

    Args:
        where: One of the positions above.
        blocks: Zero-based block indices; required for `"blocks"` and not
            accepted otherwise. A list is stored as a tuple.

    Reference:
        - [Kong et al., Reflash Dropout in Image Super-Resolution, CVPR 2022](
            https://arxiv.org/abs/2112.12089)
    """

    where: str
    blocks: Optional[tuple] = None

    def __post_init__(self):
        if self.where not in PLACEMENTS:
            raise ValueError(
                "Unknown regularizer placement. Expected one of "
                f"{list(PLACEMENTS)}. Received: where={self.where!r}"
            )
        if self.where != "blocks":
            if self.blocks is not None:
                raise ValueError(
                    "`blocks` is only used with where='blocks'. Expected "
                    f"blocks=None for where={self.where!r}. "
                    f"Received: blocks={self.blocks!r}"
                )
            return
        # Stored as a tuple so that the dataclass stays hashable when a YAML
        # config hands over a list.
        blocks = tuple(self.blocks) if self.blocks is not None else ()
        valid = all(
            isinstance(index, int) and not isinstance(index, bool)
            and index >= 0
            for index in blocks
        )
        if not blocks or not valid or len(set(blocks)) != len(blocks):
            raise ValueError(
                "where='blocks' needs a non-empty list of distinct block "
                "indices. Expected non-negative integers, e.g. blocks=(1, 3). "
                f"Received: blocks={self.blocks!r}"
            )
        object.__setattr__(self, "blocks", blocks)

    def inserts_layer_at(self, site, block=None):
        """Whether the regularizer layer goes at `site` (of block `block`)."""
        if self.where == "every_block":
            return site == "block"
        if self.where == "blocks":
            return site == "block" and block in self.blocks
        return site == self.where

    def replaces_conv_at(self, site, block=None, ends_body=False):
        """Whether a convolution at `site` comes from the conv factory.

        Convolutions inside blocks have site `"block"`; for the block
        placements (`"every_block"`, `"blocks"`, `"branch"`) they are the ones
        replaced. `"after_body"` replaces the convolution that ends the body,
        `"before_last"` the last convolution, `"input"` the first one.
        """
        if self.where == "after_body":
            return ends_body
        if self.where == "blocks":
            return site == "block" and block in self.blocks
        if self.where in _BLOCK_PLACEMENTS:
            return site == "block"
        return site == self.where


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """A regularizer to insert into a network, as factories plus a placement.

    Args:
        layer: Callable `layer(name) -> keras.layers.Layer` returning a new
            layer on every call (e.g. `lambda name: keras.layers.Dropout(0.1,
            name=name)`). It must honour `name`, which is unique in the model.
        conv: Callable `conv(filters, kernel_size, **kwargs)` returning a
            layer that replaces `keras.layers.Conv2D` at the placed positions
            (e.g. a DropConnect convolution). It receives the Conv2D keyword
            arguments `padding`, `use_bias`, `kernel_initializer`,
            `bias_initializer` and `name`, so it builds with the same initial
            weights as the convolution it replaces.
        placement: Where the layer is inserted and which convolutions the conv
            factory replaces; see `Placement`.
    """

    layer: Optional[Callable[[str], keras.layers.Layer]] = None
    conv: Optional[Callable[..., keras.layers.Layer]] = None
    placement: Placement = Placement("every_block")

    def __post_init__(self):
        if self.layer is None and self.conv is None:
            raise ValueError(
                "A Regularizer needs a layer factory, a conv factory or both. "
                "Expected a callable for `layer` or `conv`. "
                "Received: layer=None, conv=None"
            )
        for argument in ("layer", "conv"):
            value = getattr(self, argument)
            if value is not None and not callable(value):
                raise ValueError(
                    f"`{argument}` must be a factory. Expected a callable or "
                    f"None. Received: {argument}={value!r}"
                )
        if not isinstance(self.placement, Placement):
            raise ValueError(
                "Expected `placement` to be a Placement instance. "
                f"Received: placement={self.placement!r}"
            )


class NetworkAssembler:
    """Creates seeded convolutions and inserts a regularizer at its sites.

    Every convolution gets initializers with their own explicit seed, drawn
    in build order from one base seed. Layers created by the regularizer
    factory (a `keras.layers.Dropout`, say) draw from Keras' global Python
    RNG; without explicit seeds, inserting them would shift the initial
    weights of every later convolution, so a with/without comparison would
    also compare two different initialisations.

    Args:
        spec: The network's `sr_models.specs.NetworkSpec`; a `"branch"`
            placement is refused when it has no residual branches.
        regularizer: A `Regularizer`, or None for the plain network.
        seed: Base seed of the initializers. None draws one from Python's
            global RNG, so `keras.utils.set_random_seed` makes builds
            repeatable.
        num_blocks: Number of blocks (or stages) in the network, to check the
            indices of `Placement("blocks", ...)`.
        kernel_initializer: Default kernel initializer of `conv`: the name of
            a Keras random initializer (`"glorot_uniform"`, `"orthogonal"`) or
            a `{"class_name", "config"}` dict without the seed.
    """

    def __init__(self, spec, regularizer, seed, num_blocks, kernel_initializer):
        if regularizer is not None and not isinstance(regularizer, Regularizer):
            raise ValueError(
                "Expected `regularizer` to be a Regularizer or None. "
                f"Received: regularizer={regularizer!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Expected `seed` to be an integer or None. Received: seed={seed!r}"
            )
        placement = regularizer.placement if regularizer is not None else None
        if placement is not None and placement.blocks is not None:
            out_of_range = [i for i in placement.blocks if i >= num_blocks]
            if out_of_range:
                raise ValueError(
                    f"Block index out of range for a network with {num_blocks} "
                    f"blocks. Expected indices in [0, {num_blocks - 1}]. "
                    f"Received: blocks={placement.blocks!r}"
                )
        if placement is not None and placement.where == "branch" and not spec.branches:
            others = ", ".join(where for where in PLACEMENTS if where != "branch")
            raise ValueError(f"{spec.title} has no residual blocks, so it has no 'branch' site. "
                             f"Expected a placement among {others}. Received: where='branch'")
        self.regularizer = regularizer
        self.kernel_initializer = kernel_initializer
        self._next_seed = seed if seed is not None else random.randint(0, 2**30)

    def _initializer(self, identifier):
        seed = self._next_seed
        self._next_seed += 1
        if isinstance(identifier, str):
            identifier = {"class_name": identifier, "config": {}}
        config = {**identifier.get("config", {}), "seed": seed}
        return keras.initializers.get({"class_name": identifier["class_name"], "config": config})

    def conv(self, filters, name, site=None, block=None, ends_body=False,
             use_bias=True, kernel_size=3, dtype=None, initializer=None, strides=1,
             padding="same", transpose=False):
        """Returns a same-padded convolution, from the conv factory if placed.

        Args:
            filters: Number of output channels.
            name: Layer name.
            site: `"input"`, `"block"`, `"branch"`, `"after_body"`, `"before_last"`,
                or None for a convolution no placement reaches (the upsampler's).
            block: Block index when `site` is `"block"`.
            ends_body: Whether this convolution ends the network body.
            use_bias: Whether the convolution has a bias.
            kernel_size: Square kernel size.
            dtype: Dtype policy of the layer; `None` follows the global policy.
                The output convolution passes `"float32"` so that mixed
                precision never rounds the restored image itself.
            initializer: This convolution's kernel initializer (a name or a
                `{"class_name", "config"}` dict), instead of the default.
            strides: Stride of the convolution.
            padding: `"same"` or `"valid"`.
            transpose: A transposed convolution (`keras.layers.Conv2DTranspose`,
                upsampling by `strides`); the conv factory never replaces one.

        Returns:
            A `keras.layers.Conv2D` (or `Conv2DTranspose`), or the conv factory's layer.
        """
        kwargs = dict(
            padding=padding,
            use_bias=use_bias,
            kernel_initializer=self._initializer(initializer or self.kernel_initializer),
            bias_initializer="zeros",
            name=name,
        )
        if dtype is not None:
            kwargs["dtype"] = dtype
        if transpose:
            return keras.layers.Conv2DTranspose(filters, kernel_size, strides=strides, **kwargs)
        if strides != 1:
            kwargs["strides"] = strides
        regularizer = self.regularizer
        if (
            regularizer is not None
            and regularizer.conv is not None
            and regularizer.placement.replaces_conv_at(site, block, ends_body)
        ):
            return regularizer.conv(filters, kernel_size, **kwargs)
        return keras.layers.Conv2D(filters, kernel_size, **kwargs)

    def output(self, features, filters, name="last_conv", **kwargs):
        """The `"before_last"` site, then the float32 output convolution; `kwargs` go to `conv`."""
        features = self.insert(features, "before_last")
        return self.conv(filters, name, site="before_last", dtype="float32", **kwargs)(features)

    def insert(self, inputs, site, block=None, part=0):
        """Applies a new regularizer layer to `inputs` if `site` is placed.

        Args:
            inputs: Symbolic tensor.
            site: `"input"`, `"block"`, `"branch"`, `"after_body"` or `"before_last"`.
            block: Block index when `site` is `"block"` or `"branch"`.
            part: Which of a block's several branches (DRUNet's residual blocks of a stage);
                each after the first gets its own layer name `regularizer_branch<block>_<part>`.

        Returns:
            The regularized tensor, or `inputs` unchanged.
        """
        regularizer = self.regularizer
        if (
            regularizer is None
            or regularizer.layer is None
            or not regularizer.placement.inserts_layer_at(site, block)
        ):
            return inputs
        suffix = (site if block is None else f"{site}{block}") + (f"_{part}" if part else "")
        layer = regularizer.layer(f"regularizer_{suffix}")
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                "The regularizer layer factory must return a new Keras layer. "
                f"Expected a keras.layers.Layer. Received: {layer!r}"
            )
        return layer(inputs)
