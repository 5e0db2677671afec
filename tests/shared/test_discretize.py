"""The discretiser: bins, flat indices, bin centres, clipping, validation, the JSON round trip."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.discretize import Discretizer
from shared.errors import SpecError
from shared.spec import TaskSpec

finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def channels(draw: st.DrawFn) -> tuple[float, float, tuple[float, ...]]:
    """One channel: (low, high, inner edges), edges anywhere strictly inside the range."""
    low = draw(st.floats(-1e6, 1e6))
    high = draw(st.floats(low, 2e6, exclude_min=True))
    if math.nextafter(low, high) == high:  # no float lies strictly between them
        return low, high, ()
    inside = st.floats(low, high, exclude_min=True, exclude_max=True)
    inner = draw(st.lists(inside, max_size=6, unique=True))
    return low, high, tuple(sorted(inner))


@st.composite
def discretizers(draw: st.DrawFn) -> Discretizer:
    """Uniform or explicit-edge grids of one to four channels."""
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):
        lows = draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
        widths = draw(st.lists(st.floats(1e-3, 1e3), min_size=n, max_size=n))
        bins = draw(st.lists(st.integers(1, 7), min_size=n, max_size=n))
        return Discretizer.uniform(lows, [lo + w for lo, w in zip(lows, widths, strict=True)], bins)
    chans = draw(st.lists(channels(), min_size=n, max_size=n))
    return Discretizer.from_edges(
        [c[2] for c in chans], [c[0] for c in chans], [c[1] for c in chans]
    )


@st.composite
def grid_and_obs(draw: st.DrawFn) -> tuple[Discretizer, list[float]]:
    """A grid and an observation for it, including values far outside the range and ±inf."""
    grid = draw(discretizers())
    obs = draw(
        st.lists(st.floats(allow_nan=False), min_size=grid.n_channels, max_size=grid.n_channels)
    )
    return grid, obs


def reference_bins(grid: Discretizer, obs: list[float]) -> list[int]:
    """The bin of each channel by counting: how many inner edges lie at or below the value."""
    return [sum(edge <= x for edge in edges) for x, edges in zip(obs, grid.edges, strict=True)]


@pytest.fixture
def grid() -> Discretizer:
    """Range sensors: left and right in 3 bins, front in 4, from 0.02 m to 2 m."""
    return Discretizer.from_edges(
        [(0.3, 1.0), (0.2, 0.5, 1.0), (0.3, 1.0)],
        [0.02, 0.02, 0.02],
        [2.0, 2.0, 2.0],
        names=["left_distance_m", "front_distance_m", "right_distance_m"],
    )


# --- properties -----------------------------------------------------------------------------


@given(grid_and_obs())
def test_bins_match_counting_and_flat_index_matches_numpy(case: tuple) -> None:
    grid, obs = case
    bins = grid.digitize(obs)
    assert bins.dtype == np.int64
    assert bins.tolist() == reference_bins(grid, obs)
    index = grid.index(obs)
    assert isinstance(index, int)
    assert index == np.ravel_multi_index(bins, grid.n_bins)
    assert index == grid.index(np.array(obs))
    assert grid.bins_of(index) == tuple(bins.tolist())


@given(grid_and_obs())
def test_centre_of_an_observations_state_lies_in_that_state(case: tuple) -> None:
    grid, obs = case
    index = grid.index(obs)
    center = grid.centers(index)
    assert center.shape == (grid.n_channels,)
    assert grid.index(center) == index
    assert np.all((np.array(grid.lows) <= center) & (center <= np.array(grid.highs)))


@settings(max_examples=50, deadline=None)  # up to 7**4 states per example
@given(discretizers())
def test_every_state_round_trips_through_its_centre(grid: Discretizer) -> None:
    centers = grid.all_centers()
    assert centers.shape == (grid.n_states, grid.n_channels)
    states = range(grid.n_states)
    assert [grid.index(center) for center in centers] == list(states)
    np.testing.assert_array_equal([grid.centers(i) for i in states], centers)
    np.testing.assert_array_equal([grid.centers(grid.bins_of(i)) for i in states], centers)
    np.testing.assert_array_equal(grid.indices(centers), np.arange(grid.n_states))


@given(discretizers(), st.data())
def test_batch_indices_equal_single_indices(grid: Discretizer, data: st.DataObject) -> None:
    rows = data.draw(
        st.lists(st.lists(finite, min_size=grid.n_channels, max_size=grid.n_channels), max_size=20)
    )
    batch = np.array(rows, dtype=np.float64).reshape(len(rows), grid.n_channels)
    indices = grid.indices(batch)
    assert indices.dtype == np.int64
    assert indices.tolist() == [grid.index(row) for row in rows]
    assert grid.digitize(batch).shape == batch.shape


@given(discretizers())
def test_dict_round_trip_through_json(grid: Discretizer) -> None:
    back = Discretizer.from_dict(json.loads(json.dumps(grid.to_dict())))
    assert back == grid
    assert back.n_bins == grid.n_bins


# --- examples -------------------------------------------------------------------------------


def test_uniform_bins_split_the_range_evenly() -> None:
    grid = Discretizer.uniform([0.0, -1.0], [1.0, 1.0], [4, 2])
    assert grid.n_bins == (4, 2)
    assert grid.n_states == 8
    assert grid.n_channels == 2
    assert grid.edges == ((0.25, 0.5, 0.75), (0.0,))
    np.testing.assert_allclose(grid.centers((0, 0)), [0.125, -0.5])
    np.testing.assert_allclose(grid.centers((3, 1)), [0.875, 0.5])


def test_uniform_takes_the_spec_bounds(robot_spec: TaskSpec) -> None:
    obs = robot_spec.observation
    grid = Discretizer.uniform(obs.lows, obs.highs, 4, names=obs.names)
    assert grid.n_states == 64
    assert grid.names == obs.names
    assert grid.lows == (0.02, 0.02, 0.02)


def test_explicit_edges_and_an_edge_belongs_to_the_bin_above(grid: Discretizer) -> None:
    assert grid.n_bins == (3, 4, 3)
    assert grid.n_states == 36
    assert grid.digitize([0.29, 0.2, 1.0]).tolist() == [0, 1, 2]
    assert grid.digitize([0.3, 0.5, 0.9999]).tolist() == [1, 2, 1]
    assert grid.index([0.3, 0.5, 0.9999]) == 1 * 12 + 2 * 3 + 1


def test_values_outside_the_range_clip_into_the_end_bins(grid: Discretizer) -> None:
    assert grid.digitize([-5.0, 0.0, math.inf]).tolist() == [0, 0, 2]
    assert grid.digitize([0.02, 2.0, 1e300]).tolist() == [0, 3, 2]
    assert grid.index([-math.inf, -math.inf, -math.inf]) == 0
    assert grid.index([99.0, 99.0, 99.0]) == grid.n_states - 1


def test_end_bins_centre_between_the_bound_and_the_nearest_edge(grid: Discretizer) -> None:
    np.testing.assert_allclose(grid.centers((0, 0, 2)), [0.16, 0.11, 1.5])
    np.testing.assert_allclose(grid.centers((1, 2, 1)), [0.65, 0.75, 0.65])


def test_a_channel_with_one_bin_has_no_edges() -> None:
    grid = Discretizer.uniform([0.0, 0.0], [1.0, 10.0], [1, 2])
    assert grid.edges == ((), (5.0,))
    assert grid.n_states == 2
    assert grid.index([123.0, 7.0]) == 1
    np.testing.assert_allclose(grid.all_centers(), [[0.5, 2.5], [0.5, 7.5]])


def test_extreme_ranges_do_not_overflow() -> None:
    grid = Discretizer.uniform([-1e308], [1e308], 4)
    assert all(math.isfinite(e) for e in grid.edges[0])
    for i in range(grid.n_states):
        assert grid.index(grid.centers(i)) == i


def test_adjacent_float_edges_keep_centres_in_their_bins() -> None:
    edge = 1.0
    above = math.nextafter(edge, 2.0)
    grid = Discretizer.from_edges([(edge, above)], [0.0], [2.0])
    assert [grid.index(grid.centers(i)) for i in range(3)] == [0, 1, 2]


def test_to_dict_is_readable(grid: Discretizer) -> None:
    assert grid.to_dict() == {
        "names": ["left_distance_m", "front_distance_m", "right_distance_m"],
        "bins": [3, 4, 3],
        "lows": [0.02, 0.02, 0.02],
        "highs": [2.0, 2.0, 2.0],
        "edges": [[0.3, 1.0], [0.2, 0.5, 1.0], [0.3, 1.0]],
    }
    unnamed = Discretizer.uniform([0.0], [1.0], 2)
    assert Discretizer.from_dict(unnamed.to_dict()) == unnamed


def test_observation_of_any_numeric_type_gives_the_same_index(grid: Discretizer) -> None:
    obs = [0.4, 0.6, 1.5]
    expected = grid.index(obs)
    assert grid.index(tuple(obs)) == expected
    assert grid.index(np.array(obs, dtype=np.float32)) == expected
    assert grid.index([np.float32(x) for x in obs]) == expected
    assert grid.index([0, 1, 2]) == grid.index([0.0, 1.0, 2.0])


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Discretizer((), (), ()), r"expected at least one channel, found none"),
        (
            lambda: Discretizer((0.0, 0.0), (1.0,), ((), ())),
            r"one entry per channel, found 2 lows \[0\.0, 0\.0\], 1 highs \[1\.0\]",
        ),
        (lambda: Discretizer((math.nan,), (1.0,), ((),)), r"lows\[0\]: .*found nan"),
        (lambda: Discretizer((0.0,), (math.inf,), ((),)), r"highs\[0\]: .*found inf"),
        (lambda: Discretizer((0.0,), ("1",), ((),)), r"highs\[0\]: .*found '1'"),
        (lambda: Discretizer((True,), (2.0,), ((),)), r"lows\[0\]: .*found True"),
        (lambda: Discretizer("ab", (2.0,), ((),)), r"lows: expected a list of numbers, found 'ab'"),
        (
            lambda: Discretizer((1.0,), (1.0,), ((),), ("x",)),
            r"channel 0 \('x'\): expected low < high, found low=1\.0, high=1\.0",
        ),
        (
            lambda: Discretizer((0.0,), (1.0,), ((0.5, 0.2),)),
            r"edges\[0\].*strictly increasing.*found 0\.5 then 0\.2",
        ),
        (
            lambda: Discretizer((0.0,), (1.0,), ((0.5, 0.5),)),
            r"strictly increasing.*found 0\.5 then 0\.5",
        ),
        (
            lambda: Discretizer((0.0,), (1.0,), ((0.0, 0.5),)),
            r"strictly inside \(low, high\) = \(0\.0, 1\.0\), found \[0\.0, 0\.5\]",
        ),
        (lambda: Discretizer((0.0,), (1.0,), ((1.5,),)), r"found \[1\.5\]"),
        (lambda: Discretizer((0.0,), (1.0,), ((math.nan,),)), r"edges\[0\]\[0\]: .*found nan"),
        (
            lambda: Discretizer((0.0,), (1.0,), ((),), ("a", "b")),
            r"names: expected 1 names \(one per channel\), found 2: \['a', 'b'\]",
        ),
        (
            lambda: Discretizer((0.0, 0.0), (1.0, 1.0), ((), ()), ("a", "a")),
            r"names\[1\]: duplicate name 'a'",
        ),
        (lambda: Discretizer((0.0,), (1.0,), ((),), ("",)), r"names\[0\]: .*found ''"),
        (
            lambda: Discretizer.uniform([0.0] * 16, [1.0] * 16, 16),
            r"\(16, 16, .*, 16\) bins make 18446744073709551616 states, more than an int64",
        ),
        (
            lambda: Discretizer.uniform([0.0], [1.0], 0),
            r"bins\[0\]: expected an integer >= 1, found 0",
        ),
        (lambda: Discretizer.uniform([0.0], [1.0], 2.5), r"bins: expected a list.*found 2\.5"),
        (lambda: Discretizer.uniform([0.0], [1.0], [True]), r"bins\[0\]: .*found True"),
        (
            lambda: Discretizer.uniform([0.0, 0.0], [1.0, 1.0], [2]),
            r"bins: expected 2 counts \(one per channel\), found 1: \[2\]",
        ),
        (
            lambda: Discretizer.uniform([1.0], [math.nextafter(1.0, 2.0)], 3),
            r"bins\[0\]: range \(1\.0, 1\.0000000000000002\) is too narrow for 3",
        ),
        (
            lambda: Discretizer.uniform([1.0], [0.0], 3),
            r"expected low < high, found low=1\.0, high=0\.0",
        ),
    ],
)
def test_construction_errors_show_the_bad_value(make: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("edges"), r"discretizer\.edges: missing"),
        (lambda d: d.pop("lows"), r"discretizer\.lows: missing"),
        (lambda d: d.update(lows="low"), r"discretizer\.lows: expected a list .*found 'low'"),
        (lambda d: d.update(highs=[2.0, None, 2.0]), r"discretizer\.highs\[1\]: .*found None"),
        (lambda d: d.update(edges={"a": 1}), r"discretizer\.edges: expected a list"),
        (lambda d: d.update(edges=[[0.3], 5, [0.3]]), r"discretizer\.edges\[1\]: .*found 5"),
        (lambda d: d["edges"][2].append("x"), r"discretizer\.edges\[2\]\[2\]: .*found 'x'"),
        (lambda d: d.update(bins=[3, 3, 3]), r"discretizer\.bins: found \[3, 3, 3\].*\[3, 4, 3\]"),
        (lambda d: d.update(names=[1, 2, 3]), r"discretizer\.names\[0\]: .*found 1"),
        (lambda d: d.update(bin=[3]), r"unknown fields \['bin'\]"),
    ],
)
def test_from_dict_names_the_malformed_field(grid: Discretizer, edit: object, message: str) -> None:
    data = json.loads(json.dumps(grid.to_dict()))
    edit(data)  # type: ignore[operator]
    with pytest.raises(SpecError, match=message):
        Discretizer.from_dict(data)


def test_from_dict_wants_an_object() -> None:
    with pytest.raises(SpecError, match=r"discretizer: expected an object .*found \[1, 2\]"):
        Discretizer.from_dict([1, 2])  # type: ignore[arg-type]


def test_nan_observation_is_refused_naming_the_channel(grid: Discretizer) -> None:
    message = r"'front_distance_m' is NaN"
    with pytest.raises(SpecError, match=message):
        grid.index([0.5, math.nan, 0.5])
    with pytest.raises(SpecError, match=message):
        grid.index(np.array([0.5, math.nan, 0.5]))
    with pytest.raises(SpecError, match=message):
        grid.digitize([0.5, math.nan, 0.5])
    with pytest.raises(SpecError, match=rf"in row 1: {message}"):
        grid.indices([[0.5, 0.5, 0.5], [0.5, math.nan, 0.5]])


@pytest.mark.parametrize(
    "obs", [[0.5, 0.5], np.zeros(4), np.zeros((3, 1)), np.zeros((2, 2)), np.zeros((1, 1, 3))]
)
def test_wrong_observation_shape_is_refused(grid: Discretizer, obs: object) -> None:
    shape = re.escape(str(np.shape(obs)))
    if np.ndim(obs) <= 1:
        with pytest.raises(SpecError, match=rf"n_channels=3, found shape {shape}"):
            grid.index(obs)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=rf"n_channels=3, found shape {shape}"):
        grid.digitize(obs)  # type: ignore[arg-type]


def test_indices_wants_a_batch(grid: Discretizer) -> None:
    with pytest.raises(SpecError, match=r"expected shape \(N, 3\), found \(3,\); use index\(\)"):
        grid.indices([0.5, 0.5, 0.5])


def test_non_numeric_observation_is_refused(grid: Discretizer) -> None:
    with pytest.raises(SpecError, match=r"expected numbers, found \['a', 'b', 'c'\]"):
        grid.digitize(["a", "b", "c"])


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (36, r"expected 0 <= index < 36 .*found 36"),
        (-1, r"found -1"),
        (1.0, r"expected an integer, found 1\.0"),
        (True, r"expected an integer, found True"),
    ],
)
def test_bad_state_index_is_refused(grid: Discretizer, index: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        grid.bins_of(index)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        ((0, 0), r"expected 3 bin numbers \(one per channel\), found 2: \[0, 0\]"),
        ((0, 4, 0), r"bins\[1\]: expected 0 <= bin < 4, found 4"),
        ((0, -1, 0), r"bins\[1\]: expected 0 <= bin < 4, found -1"),
        ((0, 1.0, 0), r"bins\[1\]: expected an integer bin number, found 1\.0"),
        (36, r"expected 0 <= index < 36"),
    ],
)
def test_bad_bins_for_centers_are_refused(grid: Discretizer, bins: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        grid.centers(bins)  # type: ignore[arg-type]


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="low < high"):
        Discretizer.uniform([1.0], [0.0], 2)
