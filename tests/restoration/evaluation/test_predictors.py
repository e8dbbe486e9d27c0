"""Loading a saved network: the project's layers registered, Keras' safe mode kept, one-line refusals."""

import pytest

from restoration.evaluation.predictors import load_keras_model


def _edited_keras(source, target, edit):
    """A copy of a .keras archive with its config.json changed by `edit(config)`."""
    import json
    import zipfile

    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    from sr_models import build_edsr

    path = tmp_path_factory.mktemp("model") / "edsr.keras"
    build_edsr(scale=2, num_blocks=1, filters=4, seed=0).save(path)
    return path


def test_a_layer_naming_a_python_function_is_refused_in_one_line(small_model_file, tmp_path):
    """`module: os, class_name: system` in a layer: a ValueError naming the file; nothing runs."""
    marker = tmp_path / "ran"

    def edit(config):
        layer = config["config"]["layers"][-1]
        layer.update(module="os", class_name="system", registered_name=None,
                     config=f"touch {marker}")

    path = _edited_keras(small_model_file, tmp_path / "module_os.keras", edit)
    with pytest.raises(ValueError) as raised:
        load_keras_model(path)
    assert str(raised.value).startswith(f"{path}: expected a model of Keras layers")
    assert "\n" not in str(raised.value)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"not a model", b"PK\x03\x04 cut short"])
def test_a_file_that_is_not_a_keras_archive_says_so(tmp_path, content):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="expected a .keras file \\(a zip archive\\)"):
        load_keras_model(path)
