"""Scoring restoration models under the conventions of published tables.

`metrics` (PSNR, SSIM and their conventions) and `protocol` (degrade,
predict, round, score, average per image; NumPy only) are the maths;
`predictors` wraps a Keras model or a baseline with its task and scores it
on a test set; `sources` turns what a user names (run directory, `.keras`
file, baseline) into predictors, checked before any work starts.
"""
