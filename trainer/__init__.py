"""The laptop half of sim2pi: train DQN or tabular Q-learning in Gymnasium and export bundles."""
