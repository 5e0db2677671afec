"""``[hardware.gym]``: a Gymnasium env as the world (software in the loop, on the laptop).

The env is made with the keyword arguments the bundle's training run recorded (``--env-arg`` and
the preset's env table: the manifest's ``training.config.env_kwargs``), as ``python -m trainer
eval-bundle`` makes it, when ``env_id`` names the bundle's env; ``env_kwargs`` lays keys over
them, key by key, as ``--env-arg`` does over a preset's table. ``EnvKwargs.of`` is that one rule,
for the backend that makes the env and for the reload that must keep it.
Nothing here imports Gymnasium: the env itself is made by ``trainer.sil_hardware``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from robot.config.rules import IndexMap, Problem, Rule, Seed
from robot.config.section import Section, ruled, text
from robot.config.toml_table import Table, describe, shown

if TYPE_CHECKING:
    from shared.bundle import Bundle


class EpisodeSeed(Seed):
    """The first episode's reset seed, or None (in TOML: absent or negative): the evaluation
    seeds."""

    fix = "give an integer >= 0, or leave the key out for the evaluation seeds (1000000 + i)"


class Keywords(Rule):
    """A table of keyword arguments: each key a Python identifier, each value any TOML value."""

    toml_type = dict
    fix = "write it as a table of the env's keyword arguments, e.g. { sensor_noise_m = 0.02 }"
    absent = None

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The table's entries, in order (checked on construction); None when absent."""
        mapping = table.get(key, dict, None, fix=self.fix)
        return None if mapping is None else tuple(mapping.items())

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is None or (name, value) pairs with identifier names."""
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = tuple(value.items())
        if not isinstance(value, tuple | list) or not all(
            isinstance(pair, tuple | list) and len(pair) == 2 for pair in value
        ):
            return Problem(key, f"expected a table, found {describe(value)}", self.fix)
        for name, _ in value:
            if not isinstance(name, str) or not name.isidentifier():
                fix = "name a keyword argument of the env's constructor, e.g. sensor_noise_m"
                found = f"expected a keyword argument name, found {shown(name)}"
                return Problem(f"{key}.{name}", found, fix)
        return None

    def normalise(self, value: Any) -> tuple[tuple[str, Any], ...] | None:
        """A tuple of (name, value) pairs, or None."""
        if value is None:
            return None
        items = value.items() if isinstance(value, Mapping) else value
        return tuple((str(name), item) for name, item in items)


@dataclass(frozen=True)
class GymConfig(Section):
    """A Gymnasium env as the world (software in the loop; needs the dev requirements)."""

    backend: ClassVar[str] = "gym"
    toml_path: ClassVar[str] = "hardware.gym"
    env_id: str = text(fix="e.g. env_id = 'trainer.envs:sim2pi/ObstacleAvoid-v0'")
    #: Observation channel → index into the env's observation vector.
    channels: tuple[tuple[str, int], ...] = ruled(IndexMap())
    #: Episode i resets on seed + i (None: the evaluation seeds, 1000000 + i, as eval-bundle's;
    #: in TOML, leave it out or give a negative one).
    seed: int | None = ruled(EpisodeSeed(), None)
    #: The env's keyword arguments, laid key by key over those the bundle's training run
    #: recorded (None, or a key left out: the run's; ``EnvKwargs.of``).
    env_kwargs: tuple[tuple[str, Any], ...] | None = ruled(Keywords(), None)

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the env's observation vector feeds."""
        return tuple(name for name, _ in self.channels)


def trained_env_kwargs(bundle: Bundle) -> dict[str, Any]:
    """The env keyword arguments of the run ``bundle`` was exported from (none recorded: {})."""
    training = bundle.manifest.get("training")
    config = training.get("config") if isinstance(training, Mapping) else None
    kwargs = config.get("env_kwargs") if isinstance(config, Mapping) else None
    return dict(kwargs) if isinstance(kwargs, Mapping) else {}


@dataclass(frozen=True)
class EnvKwargs:
    """The keyword arguments the gym backend makes its env with, and where each came from."""

    #: Where a key came from: the bundle's manifest, or the config.
    TRAINED: ClassVar[str] = "the bundle's training run"
    CONFIGURED: ClassVar[str] = "[hardware.gym] env_kwargs"

    values: Mapping[str, Any]
    #: key → ``TRAINED`` or ``CONFIGURED``
    sources: Mapping[str, str]

    @classmethod
    def of(cls, config: GymConfig, bundle: Bundle | None) -> EnvKwargs:
        """The training run's keyword arguments (when ``config.env_id`` names the bundle's env)
        with ``config.env_kwargs`` laid over them, key by key (no bundle: the config's alone)."""
        values: dict[str, Any] = {}
        if bundle is not None and config.env_id.rpartition(":")[2] == bundle.spec.env_id:
            values = trained_env_kwargs(bundle)
        sources = dict.fromkeys(values, cls.TRAINED)
        for key, value in config.env_kwargs or ():
            values[key], sources[key] = value, cls.CONFIGURED
        return cls(values, sources)

    @property
    def configured(self) -> bool:
        """Whether every argument is the config's own (none from the training run)."""
        return set(self.sources.values()) <= {self.CONFIGURED}

    def describe(self) -> str:
        """The arguments and where they came from, for the log."""
        if not self.values:
            return "no env kwargs (the env's defaults)"
        origins = sorted(set(self.sources.values()))
        return f"env kwargs {dict(self.values)} (from {' and '.join(origins)})"
