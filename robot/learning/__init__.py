"""On-robot Q-learning on the bundle's Q-table."""
