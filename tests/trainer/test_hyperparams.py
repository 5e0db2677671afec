"""Hyperparameters: defaults ← preset file ← --set, with typed conversion and clear errors."""

import dataclasses
from pathlib import Path

import pytest

from trainer.errors import HyperparameterError
from trainer.hyperparams import (
    CONFIG_CLASSES,
    PRESETS_FILE,
    DQNConfig,
    QLearningConfig,
    build_config,
    field_docs,
    from_dict,
    load_presets,
    preset_env_kwargs,
    preset_for,
    to_dict,
)

pytestmark = pytest.mark.trainer


def test_every_field_has_a_docstring() -> None:
    for cls in CONFIG_CLASSES.values():
        docs = field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}
        assert all(docs.values())


def test_shipped_presets_use_only_known_fields() -> None:
    for env_id, per_algo in load_presets().items():
        for algo in per_algo:
            build_config(algo, env_id)  # raises on an unknown key or a bad value


def test_a_presets_env_table_is_env_kwargs_not_hyperparameters(tmp_path: Path) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text(
        '["Foo-v0".dqn]\ngamma = 0.9\n\n["Foo-v0".dqn.env]\ncollision = "continue"\n'
        "obstacles_range = [4, 12]\n"
    )
    assert preset_for("Foo-v0", "dqn", presets) == {"gamma": 0.9}
    assert build_config("dqn", "Foo-v0", [], presets).gamma == 0.9  # "env" is no hyperparameter
    kwargs = preset_env_kwargs("Foo-v0", "dqn", presets)
    assert kwargs == {"collision": "continue", "obstacles_range": [4, 12]}
    assert preset_env_kwargs("Foo-v0", "qlearning", presets) == {}
    assert preset_env_kwargs("Bar-v0", "dqn", presets) == {}


def test_a_presets_env_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text('["Foo-v0".dqn]\nenv = "continue"\n')
    with pytest.raises(HyperparameterError, match=r"env must be a table .* found 'continue'"):
        preset_env_kwargs("Foo-v0", "dqn", presets)


def test_preset_overrides_defaults_and_set_overrides_preset(tmp_path: Path) -> None:
    presets = tmp_path / "presets.toml"
    presets.write_text('["Foo-v0".dqn]\ngamma = 0.9\nbatch_size = 32\n')
    config = build_config("dqn", "Foo-v0", ["batch_size=128"], presets)
    assert isinstance(config, DQNConfig)
    assert (config.gamma, config.batch_size, config.n_envs) == (0.9, 128, DQNConfig().n_envs)


@pytest.mark.parametrize(
    ("item", "field", "value"),
    [
        ("hidden_sizes=256,256", "hidden_sizes", (256, 256)),
        ("double_dqn=false", "double_dqn", False),
        ("learning_rate=2.5e-4", "learning_rate", 2.5e-4),
        ("total_steps=1e4", "total_steps", 10_000),
        ("buffer_size=100_000", "buffer_size", 100_000),
        ("activation=tanh", "activation", "tanh"),
    ],
)
def test_set_converts_to_the_field_type(item: str, field: str, value: object) -> None:
    config = build_config("dqn", "Foo-v0", [item], Path("/nonexistent-is-not-read.toml"))
    assert getattr(config, field) == value


def test_tuple_of_floats_for_qlearning() -> None:
    config = build_config("qlearning", "Foo-v0", ["bins_low=-1,-2.5"], Path("/none.toml"))
    assert isinstance(config, QLearningConfig)
    assert config.bins_low == (-1.0, -2.5)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("nonsense=1", "unknown hyperparameter 'nonsense'"),
        ("gamma=abc", "gamma='abc' is not a valid float"),
        ("batch_size=1.5", "batch_size='1.5' is not a valid int"),
        ("double_dqn=maybe", "not a valid bool"),
        ("hidden_sizes=a,b", "comma-separated list of int"),
        ("gamma", "expected key=value"),
        ("gamma=nan", "not a valid float"),
    ],
)
def test_bad_overrides_raise_a_clear_error(item: str, message: str) -> None:
    with pytest.raises(HyperparameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config("dqn", "Foo-v0", [item], Path("/none.toml"))


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(HyperparameterError, match="gamma"):
        build_config("dqn", "Foo-v0", ["gamma=1.5"], Path("/none.toml"))
    with pytest.raises(HyperparameterError, match="n_envs"):
        build_config("dqn", "Foo-v0", ["n_envs=0"], Path("/none.toml"))


def test_to_dict_from_dict_round_trip() -> None:
    config = build_config("dqn", "Foo-v0", ["hidden_sizes=32,16"], Path("/none.toml"))
    assert from_dict("dqn", to_dict(config)) == config
    assert PRESETS_FILE.name == "presets.toml"
