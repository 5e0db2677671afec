"""On-robot Q-learning on the bundle's Q-table: the learner and the state it keeps on disk.

``Learner`` (a ``robot.control.decider.Decider``) composes the update rule (``update``),
ε-greedy exploration (``exploration``), episode bookkeeping (``episodes``) and the snapshot
store (``snapshots``). Contacts, the recovery manoeuvre and the shield are the supervisor's
(``robot.control.supervisor``), the same in every mode.
"""

from robot.learning.learner import Learner
from robot.learning.snapshots import learned_table, snapshot_mismatch, state_digest

__all__ = ["Learner", "learned_table", "snapshot_mismatch", "state_digest"]
