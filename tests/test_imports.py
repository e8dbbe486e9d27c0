"""The import graph: no cycles, and every package imports only the layers below it."""

import ast
import subprocess
import sys

import pytest

from tests.helpers import CONFIGS
from tests.helpers import REPO_ROOT

LIBRARIES = ("dropblock", "sr_models", "data")
CLIS = ("train", "evaluate", "report", "restore")

# Which project packages each package may import, besides itself and the standard libraries.
ALLOWED = {
    "dropblock": set(),
    "sr_models": set(),
    "data": set(),
    "restoration.console": set(),
    "restoration.runs": set(),
    # The regularizer sections import `dropblock` inside the methods training calls, never at load.
    "restoration.config": {"dropblock", "sr_models", "data", "restoration.runs"},
    "restoration.evaluation": {"dropblock", "sr_models", "data", "restoration.runs", "restoration.config"},
    "restoration.reporting": {"restoration.runs"},
    "restoration.training": {
        "dropblock", "sr_models", "data", "restoration.runs", "restoration.config",
        "restoration.evaluation", "restoration.reporting",
    },
    "benchmarks": {
        "dropblock", "sr_models", "data", "restoration.runs", "restoration.config",
        "restoration.evaluation", "restoration.reporting", "restoration.training",
    },
}


def module_name(path):
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def project_modules():
    files = [REPO_ROOT / f"{name}.py" for name in CLIS]
    for package in (*LIBRARIES, "restoration", "benchmarks"):
        files += sorted((REPO_ROOT / package).rglob("*.py"))
    return {module_name(path): path for path in files}


def imports_of(path, name, modules):
    """Project modules imported anywhere in a file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: the project uses absolute imports only"
            base = node.module
            # `from package import module` imports the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target.split(".")[0] in
                     (*LIBRARIES, "restoration", "benchmarks", *CLIS) and target in modules)
    return found


GRAPH = {name: imports_of(path, name, project_modules()) for name, path in project_modules().items()}


def layer_of(name):
    """The layer a module belongs to: a library, `restoration.<sub-package>`, a CLI."""
    parts = name.split(".")
    if parts[0] == "restoration" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def test_the_graph_covers_the_project():
    """The parser finds the modules and their imports (guards against a vacuous pass)."""
    assert {"restoration.config.schema", "restoration.training.run", "train"} <= set(GRAPH)
    assert "restoration.config" in GRAPH["train"]
    assert "restoration.evaluation.protocol" in GRAPH["restoration.training.callbacks"]


def test_no_import_cycles():
    """No module reaches itself through its imports."""
    state = {}

    def visit(name, stack):
        state[name] = "active"
        for target in GRAPH[name]:
            if state.get(target) == "active":
                pytest.fail("import cycle: " + " -> ".join([*stack, name, target]))
            if target not in state:
                visit(target, [*stack, name])
        state[name] = "done"

    for name in GRAPH:
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer):
    """Imports run one way: CLIs -> training -> evaluation, reporting -> config -> runs."""
    for name, targets in GRAPH.items():
        if layer_of(name) != layer:
            continue
        wrong = {target for target in targets
                 if layer_of(target) != layer and layer_of(target) not in ALLOWED[layer]}
        assert not wrong, f"{name} imports {sorted(wrong)}"


def test_no_library_module_imports_a_command_line_entry_point():
    """train.py, evaluate.py, report.py and restore.py are imported by nobody but the tests."""
    for name, targets in GRAPH.items():
        assert not set(CLIS) & targets, name


def test_sr_models_and_configs_load_without_keras():
    """`sr_models`, its specs and a config of every network load without importing Keras or a backend."""
    paths = [*sorted((CONFIGS / "zoo").glob("*.yaml")), CONFIGS / "edsr_baseline_x2_div2k.yaml",
             CONFIGS / "dncnn_sigma25_train400.yaml"]
    code = "\n".join([
        "import sys",
        "import sr_models.specs",
        "from restoration.config import load_config",
        *(f"load_config({str(path)!r}, check_data=False)" for path in paths),
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('keras', 'tensorflow', 'jax')))",
    ])
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
