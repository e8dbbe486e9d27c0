"""Lists the networks a configuration's `model.name` may name, with their keys and defaults.

    python -m sr_models
"""

from sr_models.specs import SPECS


def describe(name, network):
    """One network as lines: name, tasks and scales, its blocks, then each key with its default and range."""
    traits = [*network.tasks, "/".join(f"x{scale}" for scale in network.scales)]
    traits += ["noise-level input"] * network.noise_level + ["no branch site"] * (not network.branches)
    lines = [f"{name} ({network.title}): {', '.join(trait for trait in traits if trait)}",
             f"  blocks (for a regularizer): {network.blocks_are}"]
    for key, argument in network.arguments.items():
        default = "paper size for the channels" if argument.default is None else repr(argument.default)
        allowed = f", {argument.expected}" if argument.expected else ""
        lines.append(f"  {key}: [{default}]{allowed}")
    return lines


def main():
    for name, network in SPECS.items():
        print("\n".join(describe(name, network)))


if __name__ == "__main__":
    main()
