"""The names and reference values of Real-ESRGAN's degradation settings, without TensorFlow.

`data.blind` runs the chains and `restoration.config.schema` checks a
config's `data.degradation` against the same names and defaults; loading a
config must not start TensorFlow, so both read them from here. Where each
value comes from is in `data.blind`'s docstring.
"""

# Blur kernel families, in the order of `kernel_probabilities`.
KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
# Real-ESRGAN's values of the settings whose first-order default is different.
KERNEL_PROBABILITIES = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
KERNEL_SIZES = (7, 21)
SINC_PROBABILITY = 0.1
GAUSSIAN_NOISE_PROBABILITY = 0.5
# Settings that only the second-order chain reads.
SECOND_ORDER_ONLY = (
    "resize_probabilities", "resize_range", "second_order_probability", "second_blur_probability",
    "second_blur_sigma", "second_kernel_probabilities", "second_sinc_probability",
    "second_resize_probabilities", "second_resize_range", "second_gaussian_noise_probability",
    "second_noise_sigma", "second_poisson_scale", "second_gray_noise_probability",
    "second_jpeg_quality", "final_sinc_probability", "sinc_before_jpeg_probability",
)
