"""The supervisor: takes the motors from the policy when the robot is in trouble, in every mode.

Checked on every tick with a valid observation, before the decider is asked:

- **contact**: the bumper is pressed, or a range reads below ``collision_distance_m``;
- **no progress**: the policy drove forward for ``progress_window_s`` while every range echoed
  and stayed within ``progress_change_m`` of its average (a robot without wheel encoders pushing
  against something its bumper does not feel, or with stalled wheels). Per range: an average
  over about half the window, and the mean absolute deviation from it over the same time; a
  robot that moves sweeps its rangers across the room and the deviation grows, one that stands
  still leaves only the sensor's noise. A reading at the channel's top (no echo) is skipped, and
  a channel that echoes on fewer than half the ticks cannot judge;
- **oscillation**: the policy's turning direction (spin left, spin right, …: commands that turn
  more than they drive) reversed ``oscillation_reversals`` times within ``oscillation_window_s``.

Each takes the motors for the recovery manoeuvre (``robot.control.recovery``; its turns mirrored
to turn away from the nearer side when the spec names a left and a right range; for an
oscillation without the steps that back off, since nothing is touched in front and nothing is
seen behind), then gives them back to the policy. A recovery *fails* when the supervisor must
take over again within ``settle_s`` of its end; after ``max_failed_recoveries`` failures in a
row the robot recovers once more and stops, reason ``stuck``: held for ``stuck_retry_s`` and
then the policy again (``on_stuck = "retry"``), held until restarted or reloaded (``"hold"``),
or the run ends (``"exit"``, exit code 3).

It also shields every choice: none drives forward while a range reads below
``shield_distance_m`` (``robot.control.shield``). Pure Python floats: its cost per tick is a
``robot bench`` figure.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from robot.config import SupervisorConfig
from robot.control.decider import Choice, motor_commands
from robot.control.recovery import Recovery, recovery_from
from robot.control.shield import Shield
from robot.inference.policy import Decision
from shared.spec import Channel, MotorCommand, TaskSpec

#: Why the supervisor takes over (telemetry, the summary and the log say these).
CONTACT, NO_PROGRESS, OSCILLATION, STUCK = "contact", "no_progress", "oscillation", "stuck"
TRIGGERS = (CONTACT, NO_PROGRESS, OSCILLATION)
#: A channel that echoes on fewer ticks than this share cannot judge progress.
_MIN_ECHO_SHARE = 0.5


@dataclass(frozen=True)
class Takeover:
    """What the supervisor drives this tick instead of the policy, and why.

    ``command`` None: the motors stay stopped (``stuck``). ``begins``: the first tick of a
    takeover (the decider is told, so a learner ends its episode or drops its pending update).
    """

    reason: str
    command: MotorCommand | None
    begins: bool
    detail: str


class Supervisor:
    """Contact, no-progress and oscillation checks, the recovery, the ``stuck`` stop, the shield."""

    def __init__(
        self,
        config: SupervisorConfig,
        commands: Sequence[MotorCommand],
        channels: Sequence[Channel],
        period_s: float,
    ) -> None:
        """``commands[i]``: action ``i``'s drive; ``channels``: the spec's observation channels;
        ``period_s``: the control period (the smoothing's time constants are in ticks)."""
        self.config = config
        self.commands = list(commands)
        self.shield = Shield(commands, [c.unit for c in channels])
        self.recovery = Recovery(recovery_from(config.recovery))
        self._ranges = self.shield.ranges
        self._tops = [channels[i].high * 0.999 for i in self._ranges]
        names = [channels[i].name.lower() for i in self._ranges]
        self._left = next((k for k, n in enumerate(names) if "left" in n), None)
        self._right = next((k for k, n in enumerate(names) if "right" in n), None)
        turn = sum((s[1] - s[0]) * s[2] for s in config.recovery)  # > 0: the steps turn left
        self._turns_left = turn > 0
        self._turns = turn != 0
        window = config.progress_window_s
        self._alpha = min(1.0, 2.0 * period_s / window) if window > 0 else 1.0
        self._average = [math.nan] * len(self._ranges)
        self._deviation = [math.inf] * len(self._ranges)
        self._echo_share = [0.0] * len(self._ranges)
        self._forward_since_s = math.inf  # since when the policy has driven forward, unbroken
        self._turn_sign = 0
        self._reversals: deque[float] = deque()
        self._reason = ""
        self._failed = 0
        self._stuck_after_recovery = False
        self._stuck_until_s: float | None = None  # stuck: held until then (inf: for good)
        #: Totals for the summary: takeovers by reason, failed recoveries, stuck stops, shielded.
        self.takeovers = dict.fromkeys(TRIGGERS, 0)
        self.failed_recoveries = 0
        self.stuck = 0
        self.shielded_total = 0
        self._last: str | None = None  # this tick's takeover reason (telemetry)
        self._began = False  # whether this tick's takeover is a new one (telemetry)
        self._nearest = math.inf  # this tick's nearest range (m), and the values it came from
        self._seen: Sequence[float] | None = None
        self._shielded_now = False

    @classmethod
    def for_spec(cls, config: SupervisorConfig, spec: TaskSpec, rate_hz: float) -> Supervisor:
        """A supervisor for ``spec``'s actions and channels at ``rate_hz`` (SpecMismatchError:
        its actions have no motor commands)."""
        return cls(config, motor_commands(spec), spec.observation.channels, 1.0 / rate_hz)

    @property
    def exits_when_stuck(self) -> bool:
        """Whether a ``stuck`` stop ends the run (``on_stuck = "exit"``)."""
        return self.config.on_stuck == "exit"

    def check(self, values: Sequence[float], bumper: bool | None, now_s: float) -> Takeover | None:
        """This tick's takeover, or None: the policy drives. ``values``: the observation."""
        self._observe(values)
        self._seen = values
        self._shielded_now = False
        takeover = self._held(now_s)
        if takeover is None:
            reason, detail = self._trigger(values, bumper, now_s)
            if reason is not None:
                takeover = self._take_over(reason, detail, values, now_s)
        self._last = None if takeover is None else takeover.reason
        self._began = takeover is not None and takeover.begins
        return takeover

    def driven(self, command: MotorCommand, now_s: float, *, explored: bool = False) -> None:
        """The policy's command was driven this tick (the no-progress and oscillation history);
        ``explored``: drawn to explore, so its turn says nothing of the policy oscillating."""
        forward = command.left + command.right
        turn = command.right - command.left
        if forward <= 0.0:
            self._forward_since_s = math.inf
        elif self._forward_since_s == math.inf:
            self._forward_since_s = now_s
        if abs(turn) > abs(forward) and not explored:
            sign = 1 if turn > 0 else -1
            if self._turn_sign and sign != self._turn_sign:
                reversals = self._reversals
                reversals.append(now_s)
                while reversals and reversals[0] <= now_s - self.config.oscillation_window_s:
                    reversals.popleft()
            self._turn_sign = sign

    def shielded(self, choice: Choice, values: Sequence[float]) -> Choice:
        """``choice``, or the best-valued action that does not drive forward near an obstacle."""
        distance, decision = self.config.shield_distance_m, choice.decision
        if distance <= 0.0 or decision is None:
            return choice
        # This tick's nearest range, found by ``check`` (the loop shields the values it checked).
        nearest = self._nearest if values is self._seen else self.shield.nearest_m(values)
        if nearest >= distance:
            return choice
        action = self.shield.overridden(decision.action_index, nearest, distance, decision.q_values)
        if action is None:
            return choice
        self.shielded_total += 1
        self._shielded_now = True
        return Choice(
            self.commands[action], Decision(action, decision.q_values), explored=choice.explored
        )

    # -- the checks ----------------------------------------------------------------------------

    def _observe(self, values: Sequence[float]) -> None:
        """Each echoing range's average and deviation from it, and each one's echo share."""
        average, deviation, share = self._average, self._deviation, self._echo_share
        alpha = self._alpha
        nearest = math.inf
        for k, i in enumerate(self._ranges):
            value = float(values[i])
            nearest = value if value < nearest else nearest  # cheaper than min() per tick
            echoed = value < self._tops[k]
            share[k] += alpha * ((1.0 if echoed else 0.0) - share[k])
            if not echoed:
                continue
            if average[k] != average[k]:  # NaN: the first echo
                average[k] = value
                continue
            off = abs(value - average[k])
            deviation[k] = (
                off if deviation[k] == math.inf else deviation[k] + alpha * (off - deviation[k])
            )
            average[k] += alpha * (value - average[k])
        self._nearest = nearest

    def _trigger(
        self, values: Sequence[float], bumper: bool | None, now_s: float
    ) -> tuple[str | None, str]:
        config = self.config
        if bumper:
            return CONTACT, "the bumper is pressed"
        nearest = self._nearest
        if nearest < config.collision_distance_m:
            limit = config.collision_distance_m
            return CONTACT, f"a range reads {nearest:.3f} m (< {limit} m)"
        window = config.progress_window_s
        if window > 0.0 and now_s - self._forward_since_s >= window and self._still():
            return NO_PROGRESS, f"driving forward for {window} s, no range changed"
        reversals = config.oscillation_reversals
        if reversals and len(self._reversals) >= reversals:
            span = config.oscillation_window_s
            return OSCILLATION, f"{len(self._reversals)} turn reversals within {span} s"
        return None, ""

    def _still(self) -> bool:
        """Every range echoes and stays within ``progress_change_m`` of its average (nothing to
        judge: False)."""
        if not self._ranges:
            return False
        change = self.config.progress_change_m
        for k in range(len(self._ranges)):
            if self._echo_share[k] < _MIN_ECHO_SHARE or not self._deviation[k] < change:
                return False
        return True

    # -- taking over ---------------------------------------------------------------------------

    def _held(self, now_s: float) -> Takeover | None:
        """A takeover under way: a recovery step, or the ``stuck`` stop (None: neither)."""
        if self._stuck_until_s is not None:
            if now_s < self._stuck_until_s:
                return Takeover(STUCK, None, False, self._stuck_detail())
            self._stuck_until_s = None  # retry: the policy again, from a clean slate
            self._failed = 0
        if not self.recovery.active:
            return None
        command = self.recovery.due(now_s)
        if command is not None:
            return Takeover(self._reason, command, False, "recovering")
        if self._stuck_after_recovery:
            self._stuck_after_recovery = False
            self.stuck += 1
            retry = self.config.on_stuck == "retry"
            self._stuck_until_s = now_s + self.config.stuck_retry_s if retry else math.inf
            return Takeover(STUCK, None, False, self._stuck_detail())
        return None

    def _take_over(
        self, reason: str, detail: str, values: Sequence[float], now_s: float
    ) -> Takeover:
        """Start the recovery for ``reason``; the last one allowed before ``stuck``."""
        config = self.config
        self.takeovers[reason] += 1
        if now_s - self.recovery.ends_s <= config.settle_s:
            self._failed += 1
            self.failed_recoveries += 1
        else:
            self._failed = 0
        self._stuck_after_recovery = self._failed >= config.max_failed_recoveries
        if self._stuck_after_recovery:
            detail = (
                f"{detail}; {self._failed} recoveries failed in a row: one more recovery, then stop"
            )
        self._reason = reason
        self._forward_since_s = math.inf
        self._turn_sign = 0
        self._reversals.clear()
        # Dithering touches nothing in front: backing off blind would only risk what is behind.
        on_the_spot = reason == OSCILLATION
        self.recovery.start(now_s, mirrored=self._mirrored(values), on_the_spot=on_the_spot)
        command = self.recovery.due(now_s)
        return Takeover(reason, command, True, detail)

    def _mirrored(self, values: Sequence[float]) -> bool:
        """Whether to mirror the recovery's turns: they would turn towards the nearer side."""
        if not self._turns or self._left is None or self._right is None:
            return False
        left = float(values[self._ranges[self._left]])
        right = float(values[self._ranges[self._right]])
        if left == right:
            return False
        return (left < right) == self._turns_left

    def _stuck_detail(self) -> str:
        limit = self.config.max_failed_recoveries
        then = {"retry": f"retrying after {self.config.stuck_retry_s} s", "hold": "held"}
        return f"{limit} recoveries failed in a row; {then.get(self.config.on_stuck, 'exiting')}"

    # -- reports -------------------------------------------------------------------------------

    def telemetry_fields(self) -> dict[str, Any]:
        """This tick's takeover reason (``supervisor``), whether it began on this tick
        (``takeover_begins``: one takeover may follow another at once) and whether the shield
        acted."""
        fields: dict[str, Any] = {"supervisor": self._last}
        if self._began:
            fields["takeover_begins"] = True
        if self._shielded_now:
            fields["shielded"] = True
        return fields

    def summary(self) -> dict[str, Any]:
        """Totals for the exit summary."""
        return {
            "takeovers": dict(self.takeovers),
            "failed_recoveries": self.failed_recoveries,
            "stuck": self.stuck,
            "shielded": self.shielded_total,
        }
