"""Per-sample random numbers that differ between the replicas of `tf.distribute.MirroredStrategy`.

Each replica of a mirrored model runs the layer on its share of the batch
with the same generator state, so a plain draw gives every replica the
same masks: samples `i` and `i + B / R` would always be dropped alike.
`draw_rows` draws the numbers of the whole global batch instead, from the
same seed, and keeps this replica's rows. The masks then are exactly those
one device draws for the same global batch (the strategy splits a batch
into contiguous shares), so a mirrored run regularizes like a one-device
run. Outside a replica context, and on the other backends (where a
distributed batch is one global array), it is the plain draw.
"""

import keras


def replica_share():
    """`(replicas, index)` of the current `tf.distribute` replica, or `(1, 0)` outside one."""
    if keras.backend.backend() != "tensorflow":
        return 1, 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def draw_rows(draw, shape, *args, **kwargs):
    """`draw(shape, *args, **kwargs)` for this replica's rows of the global batch.

    Args:
        draw: A `keras.random` function such as `uniform` or `randint`.
        shape: The shape of this replica's draw; its first entry is the
            number of samples (an int or a scalar tensor).
    """
    replicas, index = replica_share()
    if replicas == 1:
        return draw(shape, *args, **kwargs)
    rows = shape[0]
    values = draw((rows * replicas, *shape[1:]), *args, **kwargs)
    return values[index * rows:(index + 1) * rows]
