"""The EDSR training step in PyTorch, as BasicSR and KAIR users run it: the speed to match.

Runs under an interpreter that has torch (a scratch environment; torch is
never a dependency of this project). `benchmarks.step_speed` starts it in
a subprocess, alternating with its own measurements:

    TORCH_PYTHON=/path/to/torch-env/bin/python python -m benchmarks.step_speed

Standalone: `python benchmarks/torch_step.py --blocks 4 --filters 32 --patch 24`
prints one JSON line, the median seconds per step for each precision.

The network is the project's EDSR (head convolution, residual blocks of
convolution-ReLU-convolution, body convolution with a global skip, sub-pixel
upsampler, last convolution) in channels_last memory layout, trained with
Adam on the L1 loss; bfloat16 runs under `torch.autocast` with the loss in
float32.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, filters):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(filters, filters, 3, padding=1),
        )

    def forward(self, inputs):
        return inputs + self.branch(inputs)


class EDSR(nn.Module):
    def __init__(self, blocks, filters, scale):
        super().__init__()
        self.head = nn.Conv2d(3, filters, 3, padding=1)
        self.body = nn.Sequential(
            *[ResidualBlock(filters) for _ in range(blocks)], nn.Conv2d(filters, filters, 3, padding=1)
        )
        stages = []
        for _ in range({2: 1, 3: 1, 4: 2}[scale]):
            factor = 3 if scale == 3 else 2
            stages += [nn.Conv2d(filters, filters * factor**2, 3, padding=1), nn.PixelShuffle(factor)]
        self.upsample = nn.Sequential(*stages)
        self.last = nn.Conv2d(filters, 3, 3, padding=1)

    def forward(self, inputs):
        head = self.head(inputs)
        return self.last(self.upsample(head + self.body(head)))


def step_seconds(arguments, bfloat16):
    torch.manual_seed(0)
    model = EDSR(arguments.blocks, arguments.filters, arguments.scale).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    side = arguments.patch
    inputs = torch.rand(arguments.batch, 3, side, side).to(memory_format=torch.channels_last)
    targets = torch.rand(arguments.batch, 3, side * arguments.scale, side * arguments.scale)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            outputs = model(inputs)
        loss = (outputs.float() - targets).abs().mean()
        loss.backward()
        optimizer.step()

    for _ in range(arguments.warmup):
        step()
    times = []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        for _ in range(arguments.steps):
            step()
        times.append((time.perf_counter() - start) / arguments.steps)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = {"blocks": 16, "filters": 64, "scale": 2, "batch": 16, "patch": 48, "steps": 10, "repeats": 1,
             "warmup": 3}
    for name, default in sizes.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    arguments = parser.parse_args(argv)
    seconds = {p: step_seconds(arguments, p == "bfloat16") for p in arguments.precisions}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": seconds}))


if __name__ == "__main__":
    main()
