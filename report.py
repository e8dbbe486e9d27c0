"""Rewrites the with/without report of an experiment from its finished runs.

    python report.py runs/<experiment>
    python report.py runs/<experiment> --level 0.9 --no-tensorboard

Writes `report.md`, `report.json` and `gain.png` into the experiment
directory, the TensorBoard summary into `<experiment>/summary/` (unless
`--no-tensorboard`), and prints the gain table. Runs still missing are listed;
`train.py` runs this at the end of every experiment.
"""

import argparse
import sys
from pathlib import Path

from restoration import console
from restoration import runs
from restoration.reporting.formatting import format_gain_table
from restoration.reporting.report import write_report


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experiment_dir", help="the experiment directory, runs/<experiment>")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    parser.add_argument("--no-tensorboard", action="store_true",
                        help="skip the TensorBoard summary in <experiment_dir>/summary")
    parser.add_argument("--verbose", action="store_true",
                        help="also print TensorFlow's native log lines (oneDNN, XLA, CPU notices)")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.level < 1:
        parser.error(f"--level: expected a number in (0, 1), received {arguments.level}")
    if arguments.resamples < 1:
        parser.error(f"--resamples: expected an integer > 0, received {arguments.resamples}")
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    try:
        report = write_report(arguments.experiment_dir, arguments.level, arguments.resamples)
    except (FileNotFoundError, ValueError) as error:
        print(f"report.py: error: {error}", file=sys.stderr)
        return 2
    if not arguments.no_tensorboard:
        # Imported only here: TensorFlow takes seconds to load and the files above do not need it.
        from restoration.reporting.tensorboard import write_experiment_summary

        write_experiment_summary(arguments.experiment_dir, report)
    print(format_gain_table(report))
    print(f"Report written to {Path(arguments.experiment_dir) / runs.REPORT_MARKDOWN}")
    return 0


if __name__ == "__main__":
    sys.exit(console.run_main(main, "report.py"))
