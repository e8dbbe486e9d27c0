"""The degradation chains' settings and their defaults, without TensorFlow.

`DEFAULTS` owns every setting of a chain and its default: `data.blind.Chain`
runs with them, the configuration's `data.degradation` section takes them as
its defaults, and `data.grid` reads them to tell whether a cell lies inside
a chain's ranges. Loading a config must not start TensorFlow, so all three
read them from here. Where each value comes from is in `data.blind`'s
docstring.
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

# Every setting of a chain, in `data.blind.Chain`'s order, with its default: the first-order
# chain's for the first nine and the first round; None takes the order's value (first order: a
# Gaussian kernel of size 21, no sinc, Gaussian noise; second order: Real-ESRGAN's);
# Real-ESRGAN's reference options for the second-order-only settings.
DEFAULTS = {
    "blur_probability": 1.0,
    "blur_sigma": (0.2, 3.0),
    "anisotropic_probability": 0.5,
    "downsampling": ("bicubic", "bilinear", "area"),
    "noise_probability": 1.0,
    "noise_sigma": (1.0, 30.0),
    "gray_noise_probability": 0.4,
    "jpeg_probability": 1.0,
    "jpeg_quality": (30, 95),
    "order": 1,
    "kernel_probabilities": None,
    "kernel_size": None,
    "generalized_beta": (0.5, 4.0),
    "plateau_beta": (1.0, 2.0),
    "sinc_probability": None,
    "gaussian_noise_probability": None,
    "poisson_scale": (0.05, 3.0),
    "resize_probabilities": (0.2, 0.7, 0.1),
    "resize_range": (0.15, 1.5),
    "second_order_probability": 1.0,
    "second_blur_probability": 0.8,
    "second_blur_sigma": (0.2, 1.5),
    "second_kernel_probabilities": KERNEL_PROBABILITIES,
    "second_sinc_probability": 0.1,
    "second_resize_probabilities": (0.3, 0.4, 0.3),
    "second_resize_range": (0.3, 1.2),
    "second_gaussian_noise_probability": 0.5,
    "second_noise_sigma": (1.0, 25.0),
    "second_poisson_scale": (0.05, 2.5),
    "second_gray_noise_probability": 0.4,
    "second_jpeg_quality": (30, 95),
    "final_sinc_probability": 0.8,
    "sinc_before_jpeg_probability": 0.5,
}
