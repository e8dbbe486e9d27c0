"""The choices DropBlock's arguments take, without Keras, so that a configuration can offer them."""

# `gamma`: the seed probability solved for the map size so that the expected dropped fraction
# is the rate, or the paper's Eq. 1.
GAMMA_MODES = ("calibrated", "paper")
# `channels`: one mask per sample and channel, or one per sample.
CHANNEL_MODES = ("independent", "shared")
# `normalize`: over what the kept units are rescaled to preserve the mean.
NORMALIZE_MODES = ("per_sample", "batch", "none")
