"""The arena suite: the worlds a policy is judged in beyond the one it trained in (data only).

Five arena sizes (a square side and an obstacle count), each in two variants: *plain*, the
``sim`` backend's defaults, and *rough*, noisier rangers that miss echoes and weaker motors.
Used by the lab's arena benchmark (``bench/arenas_suite.py``: runs through the robot runtime on
the ``sim`` backend, ``docs/benchmarks/arenas.md``) and by the trainer's sweep, which ranks
``sim2pi/ObstacleAvoid-v0`` trials on these arenas (``trainer/sweep/arenas.py``,
``docs/sweeps.md``). Pure data and parsing: no world, no runtime, nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SuiteArena:
    """One arena of the suite: a square side, obstacles, and the world's imperfections."""

    side_m: float
    obstacles: int
    variant: str  # "plain" or "rough"
    #: the rangers' Gaussian noise σ (m), the share of missed echoes, both motors' gain
    noise_std_m: float
    dropout_prob: float
    motor_gain: float

    @property
    def name(self) -> str:
        """E.g. ``4m/6 plain``."""
        return f"{self.side_m:g}m/{self.obstacles} {self.variant}"

    @property
    def size(self) -> str:
        """E.g. ``4m/6`` (the arena without its variant)."""
        return f"{self.side_m:g}m/{self.obstacles}"


#: "plain": the sim backend's defaults; "rough": noisier rangers that miss echoes, weaker motors.
VARIANTS = {
    "plain": {"noise_std_m": 0.01, "dropout_prob": 0.0, "motor_gain": 1.0},
    "rough": {"noise_std_m": 0.02, "dropout_prob": 0.05, "motor_gain": 0.8},
}
#: (side in metres, obstacles): the default arena first, the most cluttered last.
SIZES = ((4.0, 6), (6.0, 12), (4.0, 9), (3.0, 6), (3.0, 11))
#: Every size in every variant: ten arenas, each size's plain one before its rough one.
SUITE = tuple(
    SuiteArena(side, obstacles, variant, **values)
    for side, obstacles in SIZES
    for variant, values in VARIANTS.items()
)
DEFAULT_ARENA = "4m/6 plain"
CLUTTERED = "3m/11"


def parse_arena(text: str) -> SuiteArena:
    """``SIDEm/OBSTACLES[ plain|rough]`` (e.g. ``3m/11 rough``) as a ``SuiteArena``."""
    size, _, variant = text.strip().partition(" ")
    variant = variant.strip() or "plain"
    side, sep, obstacles = size.removesuffix("/").partition("/")
    if not sep or variant not in VARIANTS:
        raise ValueError(f"expected e.g. '3m/11' or '3m/11 rough', found {text!r}")
    return SuiteArena(float(side.removesuffix("m")), int(obstacles), variant, **VARIANTS[variant])


__all__ = ["CLUTTERED", "DEFAULT_ARENA", "SIZES", "SUITE", "VARIANTS", "SuiteArena", "parse_arena"]
