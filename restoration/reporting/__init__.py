"""The with/without verdict of an experiment, from the files its runs wrote.

`statistics` (intervals and paired tests), `report` (builds the report, the
records of `summary`, from the runs' results), `formatting` and `plots` (its
text and figures) and `tensorboard` (every TensorBoard summary written).
Reporting reads run directories through `restoration.runs` only.
"""
