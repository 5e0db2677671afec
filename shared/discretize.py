"""The discretiser: the grid that turns a raw observation into a tabular Q-learning state.

Bin edges are in each channel's own unit (metres, ...), not normalised, so one grid means the
same on the laptop and on the robot. A channel with ``b`` bins has ``b - 1`` inner edges; a value
equal to an inner edge falls into the bin above it (like ``np.digitize``), and values outside
[low, high] clip into the end bins. The flat state index is C-ordered, like
``np.ravel_multi_index(bins, n_bins)``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from shared.errors import SpecError

_INT64_MAX = int(np.iinfo(np.int64).max)
_DICT_KEYS = ("names", "bins", "lows", "highs", "edges")


def _number(value: Any, where: str) -> float:
    """Return ``value`` as a float, or raise SpecError if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SpecError(f"{where}: expected a finite number, found {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"{where}: expected a finite number, found {number!r}")
    return number


def _sequence(values: Any, where: str) -> list[Any]:
    """Return ``values`` as a list, or raise SpecError if it is not a list, tuple or 1-D array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise SpecError(
                f"{where}: expected a 1-D sequence, found an array of shape {values.shape}"
            )
        return values.tolist()
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise SpecError(f"{where}: expected a list of numbers, found {values!r}")
    return list(values)


def _numbers(values: Any, where: str) -> tuple[float, ...]:
    """Return ``values`` as a tuple of finite floats, naming the first bad element."""
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(_sequence(values, where)))


def _names(values: Any, n_channels: int) -> tuple[str, ...]:
    """Return ``values`` as a tuple of unique non-empty channel names, one per channel."""
    names = _sequence(values, "discretizer.names")
    if len(names) != n_channels:
        raise SpecError(
            f"discretizer.names: expected {n_channels} names (one per channel), "
            f"found {len(names)}: {names!r}"
        )
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise SpecError(f"discretizer.names[{i}]: expected a non-empty string, found {name!r}")
        if name in names[:i]:
            raise SpecError(f"discretizer.names[{i}]: duplicate name {name!r}; names must differ")
    return tuple(names)


def _channel_centers(low: float, high: float, inner: tuple[float, ...]) -> tuple[float, ...]:
    """The centre of each bin of a channel; end bins centre between low/high and their edge."""
    bounds = (low, *inner, high)
    centers = []
    for b in range(len(inner) + 1):
        start, stop = bounds[b], bounds[b + 1]
        middle = 0.5 * start + 0.5 * stop  # never overflows, unlike (start + stop) / 2
        # An inner edge belongs to the bin above it: where rounding puts the middle of a very
        # narrow bin onto its upper edge, use its lower bound, which the bin does hold.
        if middle < start or (middle >= stop and b < len(inner)):
            middle = start
        centers.append(min(middle, stop))
    return tuple(centers)


@dataclass(frozen=True)
class Discretizer:
    """A grid over the observation space: per channel, inner bin edges in the channel's unit."""

    #: Lower bound of each channel, in its unit; values below clip into bin 0.
    lows: tuple[float, ...]
    #: Upper bound of each channel, in its unit; values above clip into the last bin.
    highs: tuple[float, ...]
    #: Per channel, the strictly increasing inner edges inside (low, high); ``()`` is one bin.
    edges: tuple[tuple[float, ...], ...]
    #: Optional channel names (the observation spec's), used in messages and the manifest.
    names: tuple[str, ...] | None = None
    # Derived in __post_init__ so the per-tick calls do no work they can avoid.
    _n_bins: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _n_states: int = field(init=False, repr=False, compare=False)
    _strides: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _stride_array: np.ndarray = field(init=False, repr=False, compare=False)
    _edge_arrays: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)
    _centers: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lows = _numbers(self.lows, "discretizer.lows")
        highs = _numbers(self.highs, "discretizer.highs")
        raw_edges = _sequence(self.edges, "discretizer.edges")
        if not lows:
            raise SpecError("discretizer.lows: expected at least one channel, found none")
        if not len(lows) == len(highs) == len(raw_edges):
            raise SpecError(
                "discretizer: lows, highs and edges need one entry per channel, found "
                f"{len(lows)} lows {list(lows)}, {len(highs)} highs {list(highs)} and "
                f"{len(raw_edges)} edge lists; give all three the same length"
            )
        names = None if self.names is None else _names(self.names, len(lows))
        edges = []
        for i, (low, high, channel_edges) in enumerate(zip(lows, highs, raw_edges, strict=True)):
            label = f"channel {i}" if names is None else f"channel {i} ({names[i]!r})"
            if not low < high:
                raise SpecError(
                    f"discretizer {label}: expected low < high, found low={low!r}, high={high!r}"
                )
            inner = _numbers(channel_edges, f"discretizer.edges[{i}]")
            for before, after in pairwise(inner):
                if not before < after:
                    raise SpecError(
                        f"discretizer.edges[{i}] ({label}): expected strictly increasing edges, "
                        f"found {before!r} then {after!r} in {list(inner)}; sort them and drop "
                        "duplicates"
                    )
            if inner and not (low < inner[0] and inner[-1] < high):
                raise SpecError(
                    f"discretizer.edges[{i}] ({label}): expected inner edges strictly inside "
                    f"(low, high) = ({low!r}, {high!r}), found {list(inner)}; the range's ends "
                    "are not edges, leave them out"
                )
            edges.append(inner)
        n_bins = tuple(len(inner) + 1 for inner in edges)
        n_states = math.prod(n_bins)
        if n_states > _INT64_MAX:
            raise SpecError(
                f"discretizer: {n_bins} bins make {n_states} states, more than an int64 index "
                "can hold; use fewer bins or channels"
            )
        # C order: the last channel varies fastest, as in np.ravel_multi_index.
        strides = tuple(math.prod(n_bins[c + 1 :]) for c in range(len(n_bins)))
        centers = tuple(
            _channel_centers(low, high, inner)
            for low, high, inner in zip(lows, highs, edges, strict=True)
        )
        object.__setattr__(self, "lows", lows)
        object.__setattr__(self, "highs", highs)
        object.__setattr__(self, "edges", tuple(edges))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_n_bins", n_bins)
        object.__setattr__(self, "_n_states", n_states)
        object.__setattr__(self, "_strides", strides)
        object.__setattr__(self, "_stride_array", np.array(strides, dtype=np.int64))
        object.__setattr__(self, "_edge_arrays", tuple(np.array(e, np.float64) for e in edges))
        object.__setattr__(self, "_centers", centers)

    @classmethod
    def uniform(
        cls,
        lows: Sequence[float] | np.ndarray,
        highs: Sequence[float] | np.ndarray,
        bins: int | Sequence[int],
        names: Sequence[str] | None = None,
    ) -> Discretizer:
        """A grid of equal-width bins between each channel's low and high."""
        low_values = _numbers(lows, "discretizer.lows")
        high_values = _numbers(highs, "discretizer.highs")
        if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
            counts: list[Any] = [bins] * len(low_values)
        else:
            counts = _sequence(bins, "bins")
            if len(counts) != len(low_values):
                raise SpecError(
                    f"bins: expected {len(low_values)} counts (one per channel), "
                    f"found {len(counts)}: {counts!r}"
                )
        edges = []
        for i, (low, high, count) in enumerate(zip(low_values, high_values, counts, strict=True)):
            if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
                raise SpecError(f"bins[{i}]: expected an integer >= 1, found {count!r}")
            n = int(count)
            step = (high - low) / n
            if math.isfinite(step):  # the same edges as np.linspace(low, high, n + 1)
                inner = tuple(low + k * step for k in range(1, n))
            else:  # a range so wide that high - low overflows
                inner = tuple(low * (1 - k / n) + high * (k / n) for k in range(1, n))
            if low < high and not all(a < b for a, b in pairwise((low, *inner, high))):
                raise SpecError(
                    f"bins[{i}]: range ({low!r}, {high!r}) is too narrow for {count} distinct "
                    "float bins; use fewer bins or a wider range"
                )
            edges.append(inner)
        return cls(low_values, high_values, tuple(edges), None if names is None else tuple(names))

    @classmethod
    def from_edges(
        cls,
        edges: Sequence[Sequence[float]],
        lows: Sequence[float] | np.ndarray,
        highs: Sequence[float] | np.ndarray,
        names: Sequence[str] | None = None,
    ) -> Discretizer:
        """A grid with explicit inner edges per channel, in the channel's unit."""
        return cls(
            _numbers(lows, "discretizer.lows"),
            _numbers(highs, "discretizer.highs"),
            tuple(_numbers(e, f"discretizer.edges[{i}]") for i, e in enumerate(edges)),
            None if names is None else tuple(names),
        )

    @property
    def n_channels(self) -> int:
        """Number of observation channels."""
        return len(self.lows)

    @property
    def n_bins(self) -> tuple[int, ...]:
        """Number of bins of each channel."""
        return self._n_bins

    @property
    def n_states(self) -> int:
        """Number of discrete states: the product of the bin counts."""
        return self._n_states

    def index(self, obs: Sequence[float] | np.ndarray) -> int:
        """Flat state index of one observation of shape (n_channels,)."""
        # The robot calls this every tick: plain floats and bisect beat numpy for a few channels.
        if isinstance(obs, np.ndarray):
            if obs.shape != (len(self.lows),):
                raise self._shape_error(obs.shape, "(n_channels,)")
            values = obs.tolist()
        else:
            values = obs
            if len(values) != len(self.lows):
                raise self._shape_error((len(values),), "(n_channels,)")
        flat = 0
        for value, edges, stride in zip(values, self.edges, self._strides, strict=False):
            if math.isnan(value):  # NaN lies in no bin; bisect would call it the last
                raise self._nan_error(np.asarray(values, dtype=np.float64))
            flat += bisect_right(edges, value) * stride
        return flat

    def digitize(self, obs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Bin (int64) per channel of one observation (n_channels,) or a batch (N, n_channels)."""
        values = self._as_array(obs)
        bins = np.empty(values.shape, dtype=np.int64)
        for c, edges in enumerate(self._edge_arrays):
            bins[..., c] = np.searchsorted(edges, values[..., c], side="right")
        return bins

    def indices(self, batch: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Flat state index (int64) of each row of a batch of shape (N, n_channels)."""
        values = self._as_array(batch)
        if values.ndim != 2:
            raise SpecError(
                f"batch: expected shape (N, {self.n_channels}), found {values.shape}; "
                "use index() for a single observation"
            )
        return np.asarray(self.digitize(values) @ self._stride_array, dtype=np.int64)

    def bins_of(self, index: int) -> tuple[int, ...]:
        """The bin of each channel for a flat state index (inverse of ``index``)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise SpecError(f"state index: expected an integer, found {index!r}")
        if not 0 <= index < self.n_states:
            raise SpecError(
                f"state index: expected 0 <= index < {self.n_states} (the number of states), "
                f"found {index}"
            )
        rest = int(index)
        bins = []
        for stride in self._strides:
            bin_, rest = divmod(rest, stride)
            bins.append(bin_)
        return tuple(bins)

    def centers(self, index_or_bins: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """The observation (n_channels,) at the centre of a state's bins, in channel units."""
        if isinstance(index_or_bins, int | np.integer) and not isinstance(index_or_bins, bool):
            bins: Sequence[Any] = self.bins_of(index_or_bins)
        else:
            bins = _sequence(index_or_bins, "bins")
            if len(bins) != self.n_channels:
                raise SpecError(
                    f"bins: expected {self.n_channels} bin numbers (one per channel), "
                    f"found {len(bins)}: {bins!r}"
                )
            for c, (bin_, count) in enumerate(zip(bins, self.n_bins, strict=True)):
                if isinstance(bin_, bool) or not isinstance(bin_, int | np.integer):
                    raise SpecError(f"bins[{c}]: expected an integer bin number, found {bin_!r}")
                if not 0 <= bin_ < count:
                    raise SpecError(f"bins[{c}]: expected 0 <= bin < {count}, found {bin_}")
        centers = self._centers
        return np.array([centers[c][b] for c, b in enumerate(bins)], dtype=np.float64)

    def all_centers(self) -> np.ndarray:
        """The bin-centre observation of every state, shape (n_states, n_channels), index order."""
        grids = np.meshgrid(*(np.array(c) for c in self._centers), indexing="ij")
        return np.stack(grids, axis=-1).reshape(self.n_states, self.n_channels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``bins`` is for people reading the manifest."""
        return {
            "names": None if self.names is None else list(self.names),
            "bins": list(self.n_bins),
            "lows": list(self.lows),
            "highs": list(self.highs),
            "edges": [list(inner) for inner in self.edges],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Discretizer:
        """Parse ``to_dict``'s form, raising SpecError that names the malformed field."""
        if not isinstance(data, Mapping):
            raise SpecError(
                f"discretizer: expected an object with lows, highs and edges, found {data!r}"
            )
        if unknown := sorted(set(data) - set(_DICT_KEYS)):
            raise SpecError(
                f"discretizer: unknown fields {unknown}; expected only {list(_DICT_KEYS)}"
            )
        for key in ("lows", "highs", "edges"):
            if key not in data:
                raise SpecError(
                    f"discretizer.{key}: missing; expected a list, one entry per channel"
                )
        raw_edges = _sequence(data["edges"], "discretizer.edges")
        discretizer = cls(
            data["lows"],
            data["highs"],
            tuple(_numbers(e, f"discretizer.edges[{i}]") for i, e in enumerate(raw_edges)),
            data.get("names"),
        )
        bins = data.get("bins")
        if bins is not None and (
            not isinstance(bins, Sequence) or list(bins) != list(discretizer.n_bins)
        ):
            raise SpecError(
                f"discretizer.bins: found {bins!r}, but the edges give {list(discretizer.n_bins)} "
                "bins; fix or drop bins (the edges are what counts)"
            )
        return discretizer

    def _as_array(self, obs: Any) -> np.ndarray:
        """``obs`` as float64 of shape (n_channels,) or (N, n_channels), without NaN."""
        try:
            values = np.asarray(obs, dtype=np.float64)
        except (TypeError, ValueError):
            raise SpecError(f"observation: expected numbers, found {obs!r}") from None
        if values.ndim not in (1, 2) or values.shape[-1] != self.n_channels:
            raise self._shape_error(values.shape, "(n_channels,) or (N, n_channels)")
        if np.isnan(values).any():
            raise self._nan_error(values)
        return values

    def _shape_error(self, shape: tuple[int, ...], expected: str) -> SpecError:
        return SpecError(
            f"observation: expected shape {expected} with n_channels={self.n_channels}, "
            f"found shape {shape}"
        )

    def _nan_error(self, values: np.ndarray) -> SpecError:
        where = tuple(int(i) for i in np.argwhere(np.isnan(values))[0])
        channel = where[-1]
        name = f"channel {channel}" if self.names is None else repr(self.names[channel])
        row = "" if len(where) == 1 else f" in row {where[0]}"
        return SpecError(
            f"observation {values.tolist() if values.ndim == 1 else ''}{row}: {name} is NaN; "
            "no bin holds NaN, so replace sensor dropouts (e.g. with the channel's high) first"
        )
