"""Code shared by training and evaluation: metrics, evaluation, configs, reporting."""
