"""Unit tests of the learner: update, schedules, shield, episodes, rollback, persistence."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robot.config import LearningConfig, SupervisorConfig
from robot.control.decider import Choice
from robot.control.supervisor import CONTACT, NO_PROGRESS
from robot.learning import Learner, learned_table
from shared.bundle import Bundle
from shared.discretize import Discretizer
from shared.errors import NoSnapshotError
from shared.qtable import list_snapshots, load_latest
from shared.reference_robot import obstacle_avoid_spec
from shared.reward import RewardFunction

SPEC = obstacle_avoid_spec()
GRID = Discretizer.uniform(SPEC.observation.lows, SPEC.observation.highs, 4)
FAR = np.array([1.5, 1.5, 1.5])


def make(
    tmp_path: Path,
    values: np.ndarray | None = None,
    sha: str = "a" * 64,
    shield_m: float = 0.2,
    **kw,
) -> Learner:
    """A learner on the reference spec with a 4-bin grid, state in ``tmp_path/state``;
    ``shield_m``: the supervisor's shield distance."""
    config = LearningConfig(state_dir=tmp_path / "state", **kw)
    if values is None:
        values = np.zeros((GRID.n_states, len(SPEC.actions)))
    supervisor = SupervisorConfig(shield_distance_m=shield_m)
    return Learner(SPEC, GRID, values, sha, config, supervisor=supervisor, seed=0)


def act(choice: Choice) -> int | None:
    """The action a choice took."""
    assert choice.decision is not None
    return choice.decision.action_index


def test_update_is_the_td_rule_with_alpha_schedule(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(size=(GRID.n_states, 5))
    # The rule itself, unclipped (huber_delta has its own test), with the floor at 0.01.
    plain = {"huber_delta": 0.0, "alpha_floor": 0.01, "alpha_omega": 0.5}
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0, **plain)
    first = learner.decide(FAR, False, 0.0)
    s0, a0 = GRID.index(FAR), act(first)
    assert a0 == int(values[s0].argmax()) and "td_error" not in learner.telemetry_fields()
    obs = np.array([1.0, 0.7, 1.2])
    learner.decide(obs, False, 0.05)
    r = RewardFunction(SPEC)(obs, SPEC.actions[a0].motor, False).total
    target = r + learner.config.gamma * values[GRID.index(obs)].max()
    expected = values[s0, a0] + 0.1 * (target - values[s0, a0])  # alpha / (1 + 0) ** 0.5
    assert learner.table.values[s0, a0] == pytest.approx(expected)
    # The other actions of s0 share state_share of the correction: their order is kept.
    others = [a for a in range(5) if a != a0]
    shared = learner.config.state_share * (expected - values[s0, a0])
    assert learner.table.values[s0, others] == pytest.approx(values[s0, others] + shared)
    assert learner.table.visits[s0, a0] == 1
    assert learner.rule.alpha_for(3) == pytest.approx(0.05)
    assert learner.rule.alpha_for(10**9) == pytest.approx(0.01)  # the floor
    fields = learner.telemetry_fields()
    assert fields["td_error"] == pytest.approx(target - values[s0, a0], abs=1e-5)
    assert "reward_forward_progress" in fields and "epsilon" in fields
    assert fields["updates"] == 1


def test_an_update_is_reported_on_its_own_record_only(tmp_path: Path) -> None:
    """A takeover's ticks (the learner not asked) carry no update; the count is cumulative."""
    values = np.random.default_rng(3).normal(size=(GRID.n_states, 5))
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0)
    learner.decide(FAR, False, 0.0)
    learner.decide(np.array([1.0, 0.7, 1.2]), False, 0.05)
    learner.telemetry_fields()  # the decided tick's record
    learner.interrupted(np.array([1.0, 0.1, 1.2]), "contact")
    interrupted = learner.telemetry_fields()
    assert "td_error" in interrupted and interrupted["updates"] == 2
    assert "episode_end" in interrupted["learn_events"]
    recovering = learner.telemetry_fields()  # a recovery tick: the learner was not asked
    assert "td_error" not in recovering and "learn_events" not in recovering
    assert recovering["updates"] == 2 == learner.stats.updates


def test_state_share_zero_is_plain_q_learning(tmp_path: Path) -> None:
    values = np.random.default_rng(2).normal(size=(GRID.n_states, 5))
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0, state_share=0.0)
    first = learner.decide(FAR, False, 0.0)
    learner.decide(np.array([1.0, 0.7, 1.2]), False, 0.05)
    changed = np.argwhere(learner.table.values != values)
    assert changed.tolist() == [[GRID.index(FAR), act(first)]]
    with pytest.raises(ValueError, match="state_share"):
        make(tmp_path, state_share=1.0)  # the actions' own values would never move apart


def _walk(learner: Learner, observations: list[np.ndarray]) -> list[tuple[int, int]]:
    """Step through ``observations`` (no collision); the (state, action) pairs chosen."""
    pairs = []
    for i, obs in enumerate(observations):
        choice = learner.decide(obs, False, 0.05 * i)
        pairs.append((GRID.index(obs), act(choice)))
    return pairs


WALK = [FAR, np.array([1.0, 0.7, 1.2]), np.array([0.6, 1.6, 0.4]), np.array([1.9, 0.3, 0.9])]


def test_each_td_error_also_corrects_the_pairs_before_by_their_trace(tmp_path: Path) -> None:
    values = np.random.default_rng(3).normal(size=(GRID.n_states, 5))
    greedy = {"epsilon_start": 0.0, "epsilon_floor": 0.0, "alpha_omega": 0.0, "huber_delta": 0.0}
    learner = make(tmp_path, values, trace_lambda=0.8, **greedy)
    pairs = _walk(learner, WALK)
    assert len(set(p[0] for p in pairs)) == 4  # four different states
    # Replay the rule by hand: Q(λ) with replacing traces, state_share split, α = 0.1 constant.
    q, trace = values.copy(), {}
    gamma, share = learner.config.gamma, learner.config.state_share
    reward_fn = learner.reward_fn
    for (s0, a0), obs in zip(pairs[:-1], WALK[1:], strict=True):
        r = reward_fn(obs, SPEC.actions[a0].motor, False).total
        delta = r + gamma * q[GRID.index(obs)].max() - q[s0, a0]
        trace[(s0, a0)] = 1.0
        for (s, a), e in trace.items():
            q[s] += share * 0.1 * e * delta
            q[s, a] += (1.0 - share) * 0.1 * e * delta
        trace = {k: e * gamma * 0.8 for k, e in trace.items()}
    assert learner.table.values == pytest.approx(q)
    # The first pair moved three times; with trace_lambda 0 only its own update moves it.
    one_step = make(tmp_path / "one", values, trace_lambda=0.0, **greedy)
    assert _walk(one_step, WALK) == pairs
    s0, a0 = pairs[0]
    assert one_step.table.values[s0, a0] != pytest.approx(learner.table.values[s0, a0])
    second = make(tmp_path / "two", values, trace_lambda=0.0, **greedy)
    _walk(second, WALK[:2])
    assert one_step.table.values[s0] == pytest.approx(second.table.values[s0])


def test_an_exploratory_action_and_a_collision_cut_the_trace(tmp_path: Path) -> None:
    values = np.random.default_rng(4).normal(size=(GRID.n_states, 5))
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0, trace_lambda=0.9)
    _walk(learner, WALK[:3])
    assert len(learner.rule.trace) == 2  # the pairs before the one awaiting its reward
    learner.exploration.epsilon = 1.0
    explored = []
    for i in range(50):  # explore until an action other than the greedy one is drawn
        obs = WALK[i % len(WALK)]
        greedy = int(learner.table.values[GRID.index(obs)].argmax())
        choice = learner.decide(obs, False, 1.0 + 0.05 * i)
        explored.append(act(choice) != greedy)
        if explored[-1]:
            break
    assert explored[-1] and learner.rule.trace == {}  # Watkins: cut at the exploratory action
    learner.exploration.epsilon = 0.0
    before = learner.table.values.copy()
    s_prev = learner._prev[0]
    learner.decide(WALK[0], False, 5.0)
    changed = {int(s) for s in np.argwhere(learner.table.values != before)[:, 0]}
    assert changed == {s_prev}  # only the exploratory pair learned from this tick
    learner.interrupted(WALK[1], CONTACT)  # a collision: the episode, and its trace, end
    assert learner.rule.trace == {} and learner.stats.collisions == 1


def test_the_trace_stays_short(tmp_path: Path) -> None:
    learner = make(
        tmp_path, epsilon_start=0.0, epsilon_floor=0.0, save_every=10**6, trace_lambda=0.9
    )
    rng = np.random.default_rng(5)
    lengths = []
    for i in range(300):
        learner.decide(rng.uniform(0.3, 2.0, size=3), False, 0.05 * i)
        lengths.append(len(learner.rule.trace))
    # λ 0.9, γ 0.99: 0.891 ** 40 < TRACE_CUTOFF (0.01), so a pair stays at most 40 ticks.
    assert 30 < max(lengths) <= 40


def test_huber_delta_clips_the_td_error_of_ticks_without_a_collision(tmp_path: Path) -> None:
    values = np.full((GRID.n_states, 5), 3.0)
    near = np.array([0.6, 0.6, 0.6])
    values[GRID.index(near)] = 50.0  # a tick into this state surprises by about +47
    greedy = {"epsilon_start": 0.0, "epsilon_floor": 0.0}
    learners = [make(tmp_path / str(d), values, huber_delta=d, **greedy) for d in (0.0, 1.0)]
    for learner in learners:
        first = learner.decide(FAR, False, 0.0)
        learner.decide(near, False, 0.05)
    s0, a0 = GRID.index(FAR), act(first)
    r = RewardFunction(SPEC)(near, SPEC.actions[a0].motor, False).total
    td_error = r + learners[0].config.gamma * 50.0 - 3.0
    plain, clipped = (learner.table.values for learner in learners)
    assert plain[s0, a0] == pytest.approx(3.0 + 0.1 * td_error)
    assert clipped[s0, a0] == pytest.approx(3.0 + 0.1 * 1.0)  # moved by alpha x huber_delta
    share = learners[1].config.state_share
    others = [a for a in range(5) if a != a0]
    assert clipped[s0, others] == pytest.approx(3.0 + 0.1 * share)
    # The telemetry keeps the TD error itself.
    assert learners[1].telemetry_fields()["td_error"] == pytest.approx(td_error, abs=1e-5)
    # A collision's TD error (about -50) is not clipped.
    hits = [make(tmp_path / f"hit{d}", values, huber_delta=d, **greedy) for d in (0.0, 1.0)]
    for learner in hits:
        learner.decide(FAR, False, 0.0)
        learner.interrupted(FAR, CONTACT)
    assert hits[1].table.values == pytest.approx(hits[0].table.values)
    assert hits[1].table.values[s0, a0] < 3.0 - 0.1 * 40
    with pytest.raises(ValueError, match="huber_delta"):
        make(tmp_path, huber_delta=-1.0)


def test_a_contact_update_is_terminal_and_ends_the_episode(tmp_path: Path) -> None:
    values = np.full((GRID.n_states, 5), 3.0)
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0)
    first = learner.decide(FAR, False, 0.0)
    s0, a0 = GRID.index(FAR), act(first)
    learner.interrupted(FAR, CONTACT)  # the supervisor saw a contact: it takes the motors
    r = RewardFunction(SPEC)(FAR, SPEC.actions[a0].motor, True).total
    assert learner.table.values[s0, a0] == pytest.approx(3.0 + 0.1 * (r - 3.0))  # no bootstrap
    assert learner.telemetry_fields()["learn_events"] == ["episode_end"]
    assert learner.stats.episodes == 1 and learner.stats.collisions == 1
    updates = learner.stats.updates
    after = learner.decide(FAR, False, 1.0)  # given back: nothing pending from before
    assert learner.stats.updates == updates and act(after) is not None
    learner.decide(FAR, False, 1.05)
    assert learner.stats.updates == updates + 1


def test_no_progress_learns_the_last_tick_without_ending_the_episode(tmp_path: Path) -> None:
    values = np.full((GRID.n_states, 5), 3.0)
    learner = make(tmp_path, values, epsilon_start=0.0, epsilon_floor=0.0)
    first = learner.decide(FAR, False, 0.0)
    s0, a0 = GRID.index(FAR), act(first)
    learner.interrupted(FAR, NO_PROGRESS)
    r = RewardFunction(SPEC)(FAR, SPEC.actions[a0].motor, False).total
    target = r + learner.config.gamma * 3.0  # bootstrapped: not terminal
    assert learner.table.values[s0, a0] == pytest.approx(3.0 + 0.1 * (target - 3.0))
    assert learner.stats.episodes == 0 and learner.stats.collisions == 0
    updates = learner.stats.updates
    learner.decide(FAR, False, 5.0)  # the manoeuvre's ticks are not learnt from
    assert learner.stats.updates == updates


def test_epsilon_decays_to_its_floor(tmp_path: Path) -> None:
    learner = make(tmp_path, epsilon_start=0.5, epsilon_floor=0.1, epsilon_decay=0.9)
    learner.decide(FAR, False, 0.0)
    for i in range(1, 4):
        learner.decide(FAR, False, 0.05 * i)
    assert learner.epsilon == pytest.approx(0.5 * 0.9**3)
    for i in range(4, 100):
        learner.decide(FAR, False, 0.05 * i)
    assert learner.epsilon == pytest.approx(0.1)


def test_shield_never_explores_forward_near_an_obstacle(tmp_path: Path) -> None:
    values = np.zeros((GRID.n_states, 5))
    values[:, 3] = 1.0  # greedy: spin_left
    learner = make(tmp_path, values, epsilon_start=1.0, epsilon_floor=1.0, save_every=10**6)
    near = np.array([1.0, 0.2, 1.0])  # front below shield_distance_m, above collision
    chosen = [act(learner.decide(near, False, 0.05 * i)) for i in range(400)]
    forward = {i for i, a in enumerate(SPEC.actions) if a.motor.left + a.motor.right > 0}
    assert not forward & set(chosen)
    assert set(chosen) == {3, 4}
    assert 400 * 0.5 < learner.stats.shielded < 400 * 0.8  # 3 of 5 draws are forbidden
    events = []
    for i in range(20):  # the tick record says which ticks were shielded
        learner.decide(near, False, 20.0 + 0.05 * i)
        events.append(learner.telemetry_fields().get("learn_events", []))
    assert ["shielded"] in events and [] in events
    assert learner.summary()["shielded"] == learner.stats.shielded
    far = {act(learner.decide(FAR, False, 0.05 * i)) for i in range(400, 600)}
    assert far == set(range(5))  # far from obstacles every action can be explored


def test_greedy_shield_overrides_a_forward_choice_near_an_obstacle(tmp_path: Path) -> None:
    values = np.zeros((GRID.n_states, 5))
    values[:, 0] = 5.0  # greedy: forward
    values[:, 4] = 2.0  # the best action that does not drive forward: spin_right
    values[:, 3] = 1.0
    greedy = {"epsilon_start": 0.0, "epsilon_floor": 0.0, "huber_delta": 0.0}
    near = np.array([1.0, 0.15, 1.0])  # front below 0.2, above collision_distance_m
    off = make(tmp_path / "off", values, shield_m=0.0, **greedy)
    assert act(off.decide(near, False, 0.0)) == 0  # 0: greedy choices are not shielded
    learner = make(tmp_path / "on", values, shield_m=0.2, **greedy)
    chosen = learner.decide(near, False, 0.0)
    assert act(chosen) == 4 and chosen.command == SPEC.actions[4].motor
    assert (
        chosen.decision is not None and chosen.decision.q_values.argmax() == 0
    )  # the values, unchanged
    assert learner.telemetry_fields()["learn_events"] == ["overridden"]
    assert learner.stats.overridden == 1 and learner.summary()["overridden"] == 1
    # The update is the override's: the pair driven (spin_right), not the greedy forward.
    learner.decide(near, False, 0.05)
    s0 = GRID.index(near)
    r = RewardFunction(SPEC)(near, SPEC.actions[4].motor, False).total
    share = learner.config.state_share
    td_error = r + learner.config.gamma * 5.0 - 2.0
    assert learner.table.values[s0, 4] == pytest.approx(2.0 + 0.1 * td_error)
    assert learner.table.values[s0, 0] == pytest.approx(5.0 + 0.1 * share * td_error)
    # Past the distance the greedy forward is driven, and exploration is shielded as before.
    assert act(learner.decide(np.array([1.0, 0.25, 1.0]), False, 0.1)) == 0
    assert learner.stats.overridden == 2  # the second near tick
    explorer = make(tmp_path / "x", values, shield_m=0.5, epsilon_start=1.0, epsilon_floor=1.0)
    middle = np.array([1.0, 0.4, 1.0])  # inside 0.5, outside the exploration shield's 0.25
    chosen_all = {act(explorer.decide(middle, False, 0.05 * i)) for i in range(200)}
    assert chosen_all == {3, 4}  # exploratory draws are overridden too
    with pytest.raises(ValueError, match="shield_distance_m"):
        make(tmp_path, shield_m=-0.1)


def run_episode(learner: Learner, t: float, length: int, forward: bool) -> float:
    """Drive ``length`` ticks then collide; forward ticks earn reward, the others do not."""
    obs = FAR if forward else np.array([0.2, 0.2, 0.2])
    for _ in range(length):
        learner.decide(obs, False, t)
        t += 0.05
    learner.interrupted(obs, CONTACT)
    return t + 5.0  # past the recovery


def test_rollback_restores_the_best_window_and_lowers_epsilon(tmp_path: Path, caplog) -> None:
    learner = make(
        tmp_path,
        epsilon_start=0.0,
        epsilon_floor=0.0,
        epsilon_decay=1.0,
        rollback_window=3,
        rollback_drop=2.0,
    )
    learner.exploration.epsilon = 0.4
    t = 0.0
    for _ in range(3):
        # Long enough that forward progress outweighs the collision penalty at the episode's end.
        t = run_episode(learner, t, 100, forward=True)
    best = learner.stats.best_window_return
    assert best is not None and best > 0.0
    best_values = learner.table.values.copy()
    assert load_latest(tmp_path / "state" / "best").qtable.values == pytest.approx(best_values)
    with caplog.at_level(logging.WARNING, logger="robot.learning.learner"):
        t = run_episode(learner, t, 1, forward=False)  # about the collision penalty: mean drops
    assert learner.stats.rollbacks == 1
    assert learner.epsilon == pytest.approx(0.2)
    assert learner.table.values == pytest.approx(best_values)
    assert "rollback" in caplog.text
    assert learner.summary()["rollbacks"] == 1
    assert learner.telemetry_fields()["learn_events"] == ["episode_end", "rollback"]


def test_resume_from_snapshot_and_keep(tmp_path: Path) -> None:
    learner = make(tmp_path, save_every=5, keep=2)
    for i in range(23):
        learner.decide(FAR, False, 0.05 * i)
    assert len(list_snapshots(tmp_path / "state")) == 2
    learner.close()
    again = make(tmp_path, save_every=5, keep=2)
    assert again.stats.updates == 22 and again.digest() == learner.digest()
    assert again.epsilon == pytest.approx(learner.epsilon)
    assert again.source.endswith(".snap")


def test_closing_twice_saves_once_unless_it_learnt_in_between(tmp_path: Path) -> None:
    learner = make(tmp_path, save_every=1000, keep=5)
    for i in range(3):
        learner.decide(FAR, False, 0.05 * i)
    first = learner.close()
    assert learner.close() == first
    assert len(list_snapshots(tmp_path / "state")) == 1
    learner.decide(FAR, False, 0.2)  # one more update: the next close saves it
    assert learner.close() != first
    assert len(list_snapshots(tmp_path / "state")) == 2


def test_corrupt_newest_snapshot_falls_back_and_says_why(tmp_path: Path, caplog) -> None:
    learner = make(tmp_path, save_every=3)
    for i in range(7):
        learner.decide(FAR, False, 0.05 * i)
    snaps = list_snapshots(tmp_path / "state")
    older = load_latest(tmp_path / "state").qtable  # before corruption: the newest
    assert older.meta["updates"] == 6
    first = snaps[0]
    data = bytearray(snaps[-1].read_bytes())
    data[-10] ^= 0xFF
    snaps[-1].write_bytes(bytes(data))
    with caplog.at_level(logging.INFO):
        again = make(tmp_path, save_every=3)
    assert again.stats.updates == 3
    assert again.source == str(first)
    assert "checksum mismatch" in caplog.text and snaps[-1].name in caplog.text


def test_snapshot_of_another_bundle_is_moved_aside(tmp_path: Path, caplog) -> None:
    learner = make(tmp_path, save_every=2, sha="a" * 64)
    for i in range(5):
        learner.decide(FAR, False, 0.05 * i)
    bundle_values = np.ones((GRID.n_states, 5))
    with caplog.at_level(logging.WARNING):
        other = make(tmp_path, bundle_values, sha="b" * 64)
    assert other.source == "bundle" and other.stats.updates == 0
    assert other.table.values == pytest.approx(bundle_values)
    assert "another bundle" in caplog.text
    assert not list_snapshots(tmp_path / "state")
    assert list((tmp_path / "state").glob("stale-*/qtable-*.snap"))


def test_learned_table_is_the_newest_good_snapshot_of_this_bundle(
    tmp_path: Path, bundle: Bundle
) -> None:
    with pytest.raises(NoSnapshotError):
        learned_table(bundle, tmp_path / "state")
    learner = Learner.from_bundle(
        bundle, LearningConfig(state_dir=tmp_path / "state", save_every=3), seed=0
    )
    for i in range(8):
        learner.decide(FAR, False, 0.05 * i)
    learner.table.values[0, 0] = -123.0  # after the last save (6 updates): not in a snapshot
    table, path = learned_table(bundle, tmp_path / "state")
    assert path == list_snapshots(tmp_path / "state")[-1]
    assert table.meta["updates"] == 6 and table.values[0, 0] != -123.0
    learner.close()  # the exit save
    table, _ = learned_table(bundle, tmp_path / "state")
    assert table.meta["updates"] == 7 and table.values[0, 0] == -123.0
    other = make(tmp_path, sha="b" * 64)  # the same directory, learnt from another table
    other.decide(FAR, False, 0.0)
    other.close()
    with pytest.raises(ValueError, match="not learnt from this bundle"):
        learned_table(bundle, tmp_path / "state")


def test_the_learner_runs_on_the_learning_config_itself(tmp_path: Path) -> None:
    config = LearningConfig(state_dir=tmp_path, shield_distance_m=0.3)
    supervisor = SupervisorConfig(shield_distance_m=0.1)
    zeros = np.zeros((GRID.n_states, 5))
    learner = Learner(SPEC, GRID, zeros, "a" * 64, config, supervisor=supervisor, seed=0)
    assert learner.config is config and learner.learns
    assert learner.supervisor is supervisor
    # A reload keeps the learner when only ``enabled`` differs (``--learn``), not on a retune.
    assert learner.learns_as(replace(config, enabled=True), supervisor)
    assert not learner.learns_as(replace(config, gamma=0.9), supervisor)
    assert not learner.learns_as(config, SupervisorConfig(shield_distance_m=0.2))
    # One validator: the config's own, on construction and on ``replace``.
    with pytest.raises(ValueError, match="epsilon_floor"):
        replace(config, epsilon_start=0.1, epsilon_floor=0.2)
