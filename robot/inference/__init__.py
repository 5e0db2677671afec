"""Greedy policies from a bundle: the Q-table and TFLite models, and the TFLite runtime that
runs them."""
