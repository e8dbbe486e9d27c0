"""The plain-text training log of a run, `<run_dir>/train.log`, flushed line by line.

One line per logged window (step, loss, learning rate, the regularizer's values) and
one per validation (PSNR, SSIM, the train-crop gap), each with the seconds
since this process started training; the test scores close the log as `#`
lines with the wall-clock time. Every start or resume opens a `#` section
naming its step, so the log of a run killed and resumed shows the steps
trained twice, as they were.
"""

import time
from datetime import datetime


class TextLog:
    """Appends lines to a run's text log.

    Args:
        path: The log file, created with its folder if missing.
    """

    def __init__(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", buffering=1, encoding="utf-8")
        self._start = time.perf_counter()

    def section(self, text):
        """A `#` line with the wall-clock time, for starts, resumes and the end."""
        self._file.write(f"# {datetime.now().isoformat(sep=' ', timespec='seconds')} {text}\n")

    def line(self, step, fields):
        """`step N  key value  ...  elapsed S s`; `fields` maps names to formatted values."""
        items = "  ".join(f"{key} {value}" for key, value in fields.items())
        self._file.write(f"step {step}  {items}  elapsed {time.perf_counter() - self._start:.1f} s\n")

    def close(self):
        self._file.close()
