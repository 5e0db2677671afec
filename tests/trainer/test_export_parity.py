"""Parity arithmetic, distillation and rollout collection of the exporter, on small inputs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from shared.discretize import Discretizer
from shared.spec import Action, ActionTable, Channel, ObservationSpec, TaskSpec
from trainer.errors import UsageError
from trainer.export.distill import MAX_STATES, distill, grid_for, parse_bin_edges
from trainer.export.parity import ParityError, agreement, check_thresholds, tie_mask
from trainer.export.rollouts import greedy_states

pytestmark = pytest.mark.trainer


def test_ties_are_gaps_below_epsilon() -> None:
    q = np.array([[1.0, 1.0 + 1e-7], [0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(tie_mask(q, 1e-6), [True, False, True])
    np.testing.assert_array_equal(tie_mask(q, 0.0), [False, False, False])
    assert not tie_mask(np.ones((3, 1)), 1.0).any()  # one action: never a tie


def test_a_gap_below_float32s_rounding_at_that_size_is_a_tie() -> None:
    # Q near 65: Keras and the TFLite file of the same weights differed by 1.75e-4 on one
    # state of 10,000 whose top-2 gap was 1.2e-4; that flip is rounding, not the policy.
    keras = np.array([[65.0, 65.0 + 1.2e-4], [65.0, 65.01], [0.5, 0.5 + 1.2e-4]])
    exported = np.array([[65.0 + 1.75e-4, 65.0 + 1.2e-4], [65.01, 65.0], [0.5 + 2e-4, 0.5]])
    result = agreement(keras, exported, tie_epsilon=1e-5)
    # The first is a tie (gap < 1e-5 × 65); a gap of 0.01 at 65 and of 1.2e-4 at 0.5 are not.
    assert (result.ties_excluded, result.disagreements) == (1, 2)


def test_agreement_excludes_ties_and_measures_the_largest_difference() -> None:
    keras = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5 + 1e-9], [3.0, 0.0]])
    exported = np.array([[0.0, 1.1], [0.0, 1.0], [0.6, 0.5], [3.0, 0.2]])
    result = agreement(keras, exported, tie_epsilon=1e-6)
    assert (result.states, result.ties_excluded, result.disagreements) == (4, 1, 1)
    assert result.rate == pytest.approx(2 / 3)
    assert result.max_abs_q_diff == pytest.approx(1.0)
    assert result.to_dict()["agreement"] == pytest.approx(2 / 3)


def test_min_gap_compares_only_states_with_a_wide_enough_gap() -> None:
    keras = np.array([[0.0, 0.01], [0.0, 1.0], [1.0, 0.0]])
    exported = np.array([[0.01, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert agreement(keras, exported, 0.0).disagreements == 2
    wide = agreement(keras, exported, 0.0, min_gap=0.5)
    assert (wide.states, wide.disagreements) == (2, 1)


def test_all_ties_count_as_agreement() -> None:
    q = np.zeros((5, 3))
    assert agreement(q, q + np.eye(3)[[0, 1, 2, 0, 1]], 1e-6).rate == 1.0


def test_thresholds_name_every_failing_kind() -> None:
    keras = np.tile([[0.0, 1.0]], (100, 1))
    flipped = keras.copy()
    flipped[:2] = [1.0, 0.0]  # 98% agreement
    results = {"float32": agreement(keras, keras, 0.0), "int8": agreement(keras, flipped, 0.0)}
    check_thresholds(results, {"float32": 1.0, "int8": 0.98})
    with pytest.raises(ParityError) as info:
        check_thresholds(results, {"float32": 1.0, "int8": 0.99})
    message = str(info.value)
    assert "int8 agrees on 98.0000% of 100 non-tie states (2 differ)" in message
    assert "float32 agrees" not in message
    assert "--min-agreement-int8" in message


def spec_2d() -> TaskSpec:
    channels = (Channel("x_m", "m", 0.0, 1.0), Channel("y_m", "m", 0.0, 1.0))
    return TaskSpec("Toy-v0", ObservationSpec(channels), ActionTable((Action("a"), Action("b"))))


def test_distill_visited_averages_the_network_per_bin_and_centres_elsewhere() -> None:
    spec = spec_2d()
    grid = Discretizer.uniform([0.0, 0.0], [1.0, 1.0], 2)

    def network(normalized: np.ndarray) -> np.ndarray:
        raw = spec.observation.denormalize(normalized)
        return np.stack([raw[:, 0], raw[:, 1]], axis=1).astype(np.float64)

    visited = np.array([[0.1, 0.1], [0.3, 0.2], [0.9, 0.1]])
    visited_q = network(spec.observation.normalize(visited))
    table, info = distill(network, spec, grid, visited, visited_q, method="visited")
    np.testing.assert_allclose(table[grid.index([0.1, 0.1])], [0.2, 0.15], atol=1e-6)
    np.testing.assert_allclose(table[grid.index([0.9, 0.1])], [0.9, 0.1], atol=1e-6)
    np.testing.assert_allclose(table[grid.index([0.9, 0.9])], [0.75, 0.75], atol=1e-6)  # centre
    assert info == {
        "method": "visited",
        "grid": "uniform",
        "bins": [2, 2],
        "grid_states": 4,
        "bins_visited": 2,
        "table_bytes": 4 * 2 * 8,
    }
    centres, info = distill(network, spec, grid, visited, visited_q, method="centres")
    np.testing.assert_allclose(centres[grid.index([0.1, 0.1])], [0.25, 0.25], atol=1e-6)
    assert info["bins_visited"] == 0
    with pytest.raises(UsageError, match="--qtable-method: expected one of"):
        distill(network, spec, grid, visited, visited_q, method="mean")


def test_grid_for_takes_bins_per_channel_or_one_count() -> None:
    spec = spec_2d()
    assert grid_for(spec, None).n_bins == (6, 6)
    assert grid_for(spec, (3,)).n_bins == (3, 3)
    assert grid_for(spec, (3, 4)).n_bins == (3, 4)
    with pytest.raises(UsageError, match=r"--bins: expected 1 or 2 counts .* found 3"):
        grid_for(spec, (3, 4, 5))
    with pytest.raises(UsageError, match="more than 1000000"):
        grid_for(spec, (2000,))


def spec_ranges() -> TaskSpec:
    """Three range channels like the obstacle-avoid robot's (0.02-2.0 m)."""
    names = ("left_distance_m", "front_distance_m", "right_distance_m")
    channels = tuple(Channel(name, "m", 0.02, 2.0) for name in names)
    return TaskSpec("Toy-v0", ObservationSpec(channels), ActionTable((Action("a"), Action("b"))))


def test_parse_bin_edges_reads_one_list_or_one_per_channel() -> None:
    assert parse_bin_edges("0.1,0.2, 0.45") == ((0.1, 0.2, 0.45),)
    assert parse_bin_edges("0.1,0.3;0.2;0.1,0.5,1") == ((0.1, 0.3), (0.2,), (0.1, 0.5, 1.0))
    assert parse_bin_edges("0.1;;-1e-2") == ((0.1,), (), (-0.01,))  # an empty list: one bin


def test_grid_for_places_the_given_edges_on_every_channel_or_per_channel() -> None:
    spec = spec_ranges()
    edges = (0.1, 0.2, 0.3, 0.45, 0.65, 0.9, 1.2, 1.6)
    grid = grid_for(spec, None, parse_bin_edges(",".join(map(str, edges))))
    assert grid.edges == (edges, edges, edges)
    assert grid.n_states == 9**3
    assert grid.names == spec.observation.names
    assert (grid.lows, grid.highs) == ((0.02,) * 3, (2.0,) * 3)
    # An obstacle at 10 cm and one at 30 cm are different states (one uniform 6-bin grid: same).
    assert grid.digitize([1.0, 0.1, 1.0]).tolist() == [6, 1, 6]
    assert grid.digitize([1.0, 0.3, 1.0]).tolist() == [6, 3, 6]
    assert grid_for(spec, (6,)).index([1.0, 0.1, 1.0]) == grid_for(spec, (6,)).index(
        [1.0, 0.3, 1.0]
    )
    per_channel = grid_for(spec, None, ((0.1, 0.3), (), (0.1, 0.5, 1.0)))
    assert per_channel.edges == ((0.1, 0.3), (), (0.1, 0.5, 1.0))
    assert per_channel.n_bins == (3, 1, 4)


def distill_info(grid: Discretizer) -> dict[str, object]:
    """``distill``'s description of a table on ``grid`` (centres of a constant network)."""
    spec = spec_ranges()

    def network(normalized: np.ndarray) -> np.ndarray:
        return np.zeros((len(normalized), 2))

    visited = np.full((1, 3), 0.5)
    return distill(network, spec, grid, visited, network(visited), method="centres")[1]


def test_distillation_says_whether_the_grid_was_uniform_or_placed() -> None:
    spec = spec_ranges()
    assert distill_info(grid_for(spec, (4,)))["grid"] == "uniform"
    assert distill_info(grid_for(spec, None))["grid"] == "uniform"
    placed = distill_info(grid_for(spec, None, ((0.1, 0.3),)))
    assert placed["grid"] == "edges" and placed["bins"] == [3, 3, 3]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("0.1,abc", ["every channel", "'abc'", "'0.1,abc'"]),
        ("0.1;0.2,x;0.3", ["channel 1 ('front_distance_m')", "'x'", "'0.2,x'"]),
        ("0.1;0.2", ["expected 1 or 3", "left_distance_m, front_distance_m, right_distance_m"]),
        ("0.1;0.2", ["found 2: [[0.1], [0.2]]"]),
        ("0.1;0.2;0.3;0.4", ["found 4: [[0.1], [0.2], [0.3], [0.4]]"]),
        (
            "0.1;0.3,0.2;0.5",
            ["channel 1 ('front_distance_m')", "strictly increasing", "0.3 then 0.2"],
        ),
        ("0.1,0.1", ["channel 0 ('left_distance_m')", "strictly increasing", "0.1 then 0.1"]),
        ("0.1;0.2;0.01,1", ["channel 2 ('right_distance_m')", "(0.02, 2.0)", "[0.01, 1.0]"]),
        ("0.5,2.0", ["channel 0 ('left_distance_m')", "(0.02, 2.0)", "[0.5, 2.0]"]),
        ("0.1;nan;0.3", ["channel 1 ('front_distance_m')", "finite numbers", "'nan'"]),
        ("0.1,,0.2", ["every channel", "found ''"]),
        (" ", ["found an empty value"]),
    ],
)
def test_bad_bin_edges_name_the_flag_the_channel_and_the_values(
    text: str, found: list[str]
) -> None:
    spec = spec_ranges()
    with pytest.raises(UsageError) as info:
        grid_for(spec, None, parse_bin_edges(text, spec.observation.names))
    message = str(info.value)
    assert message.startswith("--bin-edges: ") and "\n" not in message
    for part in found:
        assert part in message


def test_bin_edges_from_python_are_checked_too() -> None:
    spec = spec_ranges()
    with pytest.raises(UsageError, match=r"--bin-edges: channel 2 \('right_distance_m'\): .*'x'"):
        grid_for(spec, None, ((0.1,), (0.2,), (0.3, "x")))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"--bins 3 and --bin-edges: give one of them"):
        grid_for(spec, (3,), ((0.1,),))
    many = tuple(0.02 + 0.01 * k for k in range(1, 120))  # 120 bins per channel: 1.7M states
    with pytest.raises(UsageError, match=rf"--bin-edges: .* more than {MAX_STATES}"):
        grid_for(spec, None, (many,))


def test_greedy_states_collects_exactly_n_from_seeded_episodes() -> None:
    env = gym.make("CartPole-v1")
    states, episodes = greedy_states(env, lambda obs: int(obs[2] > 0), 1_000, seed_base=7)
    again, _ = greedy_states(env, lambda obs: int(obs[2] > 0), 1_000, seed_base=7)
    env.close()
    assert states.shape == (1_000, 4) and states.dtype == np.float32
    assert episodes > 1
    np.testing.assert_array_equal(states, again)
