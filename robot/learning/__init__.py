"""On-robot Q-learning on the bundle's Q-table: the learner and the state it keeps on disk.

``Learner`` (a ``robot.control.decider.Decider``) composes the update rule (``update``),
ε-greedy exploration (``exploration``), the shields (``shield``), the recovery manoeuvre
(``recovery``), episode bookkeeping (``episodes``) and the snapshot store (``snapshots``).
"""

from robot.learning.learner import LEARN, RECOVER, Learner
from robot.learning.snapshots import learned_table, snapshot_mismatch, state_digest

__all__ = ["LEARN", "RECOVER", "Learner", "learned_table", "snapshot_mismatch", "state_digest"]
