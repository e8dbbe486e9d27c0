"""The training application around the libraries: configs, runs, scores, reports.

Imports run one way. `config` (the strict schema and experiment files)
stands on `runs` (the run-directory layout and atomic writes);
`evaluation` (metrics, protocol, predictors) and `reporting` (statistics,
report, TensorBoard) stand on both; `training` stands on all of them. The
command-line entry points `train.py`, `evaluate.py`, `report.py` and `restore.py` sit on
top; `console` quiets them.
"""
