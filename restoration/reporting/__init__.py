"""The with/without verdict of an experiment, from the files its runs wrote.

`statistics` (intervals and paired tests), `report` (collects the runs'
results and builds the report), `formatting` (markdown, the gain table, the
plot) and `tensorboard` (every TensorBoard summary the project writes).
Reporting reads run directories through `restoration.runs` only.
"""
