"""Trains every arm x seed of an experiment config, then reports the gains.

    python train.py --config configs/default.yaml
    python train.py --config configs/default.yaml --set training.steps=300
    python train.py --config configs/default.yaml --arm dropblock --seed 1   # one run
    python train.py --config configs/default.yaml --list-runs   # one `--arm A --seed S` per line

Runs land in `<output.root>/<experiment>/<arm>/seed<N>/`. An interrupted run
resumes from its latest checkpoint when the same command is run again; a
finished run is not trained twice. After the runs, the report of everything
finished so far is written to `<output.root>/<experiment>/report.md` (and
`report.json`, `gain.png`) and the gain table is printed.

Exit status: 0 when every run finished, 1 for a file problem (a bad image, a
full disk, an unusable folder, an unreadable checkpoint: one line names the
path, and the run resumes once it is fixed), 2 for a config error (nothing
was started), 3 when a run diverged (a non-finite loss or weight; the other runs
still train and the report lists it as diverged), 4 when a run was skipped
because another process is training it (each run directory is locked), 130
after Ctrl-C (the run resumes from its latest checkpoint).
"""

import argparse
import os
import sys

from restoration import console
from restoration import runs
from restoration.config import ConfigError
from restoration.config import load_config

# TensorFlow 2.21's oneDNN graph rewrites feed the second replica of a MirroredStrategy over CPU
# devices a wrong tensor ("input depth must be evenly divisible by filter depth: 3 vs 8", seen on
# an AVX-512 CPU); without them the replicas train as one device. Set before TensorFlow loads.
MIRRORED_ONEDNN = ("TF_ENABLE_ONEDNN_OPTS", "0")


def parse_arguments(argv):
    """The command line: config, overrides, one arm or seed, report and progress switches."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.yaml", help="experiment YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an existing config key, e.g. training.steps=100")
    parser.add_argument("--arm", help="train only this arm")
    parser.add_argument("--seed", type=int, help="train only this seed")
    parser.add_argument("--no-report", action="store_true", help="skip the experiment report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--list-runs", action="store_true",
                        help="print one '--arm A --seed S' line per run and exit (for job arrays)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print TensorFlow's native log lines (oneDNN, XLA, CPU notices)")
    return parser.parse_args(argv)


def selected_runs(experiment, arm, seed):
    """The (arm, seed) pairs to train, checked against the config."""
    for option, given, allowed in (("--arm", arm, experiment.arm_names), ("--seed", seed, experiment.seeds)):
        if given is not None and given not in allowed:
            raise ConfigError(experiment.source, option, "one of " + ", ".join(map(str, allowed)),
                              repr(given))
    return [(a, s) for a, s in experiment.runs()
            if (arm is None or a == arm) and (seed is None or s == seed)]


def main(argv=None):
    args = parse_arguments(argv)
    try:
        experiment = load_config(args.config, args.set)
        plan = selected_runs(experiment, args.arm, args.seed)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.list_runs:
        for arm, seed in plan:
            print(f"--arm {arm} --seed {seed}")
        return 0
    if any(experiment.arm(arm, seed).training.distribution == "mirrored" for arm, seed in plan):
        os.environ.setdefault(*MIRRORED_ONEDNN)
    from data.images import ImageError

    # `output` is experiment-wide (arms may not change it), so any arm gives the root.
    output_root = experiment.arm(*plan[0]).output.root
    try:
        return run_experiment(experiment, plan, output_root, args)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the latest checkpoints",
              file=sys.stderr)
        return 130
    except OSError as error:
        # A full disk, an unusable output folder, a missing or unreadable file.
        where = error.filename or runs.experiment_directory(output_root, experiment.name)
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 1
    except (ImageError, runs.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run_experiment(experiment, plan, output_root, args):
    """Trains the planned runs, then writes the report; returns the exit status."""
    from restoration.reporting.formatting import format_gain_table
    from restoration.reporting.report import write_report
    from restoration.reporting.tensorboard import write_experiment_summary
    from restoration.training import devices
    from restoration.training import distribution
    from restoration.training import memory
    from restoration.training import train_run
    from restoration.training.callbacks import Diverged

    configs = [experiment.arm(arm, seed) for arm, seed in plan]
    try:
        # Before anything touches a device: backends, the other processes, batches that split.
        primary = distribution.prepare((config.training.distribution, config.data.batch_size)
                                       for config in configs)
        warning = devices.check_accelerator()
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        # One run per arm: seeds do not change what a step holds.
        limit, where = memory.device_memory()
        for config in {config.run.arm: config for config in configs}.values():
            memory.check_fits(config, limit, where)
    except ValueError as error:
        print(f"error: {experiment.source}: {error}", file=sys.stderr)
        return 2
    for arm in sorted({arm for arm, _ in plan}):
        config = experiment.arm(arm, plan[0][1])
        for warning in config.warnings():
            print(f"warning: {experiment.source}: arm {arm}: {warning}", file=sys.stderr, flush=True)
    # With several processes, process 0 writes the experiment files and the report.
    directory = runs.experiment_directory(output_root, experiment.name)
    if primary:
        runs.write_experiment_file(directory, experiment.name, experiment.arm_names,
                                   experiment.seeds, experiment.source, experiment.primary_record())
    diverged, locked = [], []
    for index, (arm, seed) in enumerate(plan, start=1):
        config = experiment.arm(arm, seed)
        run_dir = runs.run_directory(output_root, experiment.name, arm, seed)
        finished = (run_dir / runs.RESULTS_FILE).exists()
        print(f"[{index}/{len(plan)}] {experiment.name}: arm {arm}, seed {seed} -> {run_dir}"
              + (" (finished earlier)" if finished else ""), flush=True)
        try:
            results = train_run(config, run_dir, verbose=0 if args.quiet else "auto")
        except runs.RunLocked as error:
            locked.append(run_dir)
            print(f"error: {error}", file=sys.stderr, flush=True)
            continue
        except Diverged as error:
            diverged.append(run_dir)
            rate = config.training.optimizer.learning_rate
            print(f"error: {run_dir} diverged ({error}); try a lower "
                  f"training.optimizer.learning_rate than {rate:g}, then delete {run_dir} to "
                  "train it again", file=sys.stderr, flush=True)
            continue
        for name, scores in (results.test if results is not None else {}).items():
            print(f"    {name}: PSNR {scores['psnr']:.3f} dB", flush=True)
    if not args.no_report and primary:
        report = write_report(directory)
        write_experiment_summary(directory, report)
        print(format_gain_table(report))
        print(f"Report: {directory / runs.REPORT_MARKDOWN}")
    return 3 if diverged else 4 if locked else 0


if __name__ == "__main__":
    sys.exit(console.run_main(main, "train.py"))
