"""The Q-network: a Keras MLP for training, and a numpy copy of it for acting fast.

Acting through a TensorFlow call costs ~0.4 ms per step; the same MLP as a numpy forward pass
costs microseconds, so the trainer acts with ``NumpyMLP`` and refreshes its weights after each
training round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "linear": lambda x: x,
}
ACTIVATIONS = tuple(_NUMPY_ACTIVATIONS)


def build_mlp(
    obs_size: int, n_actions: int, hidden_sizes: Sequence[int], activation: str
) -> keras.Model:
    """A Sequential MLP: ``obs_size`` normalised inputs → one Q-value per action."""
    if activation not in _NUMPY_ACTIVATIONS:
        raise ValueError(f"activation: expected one of {ACTIVATIONS}, found {activation!r}")
    layers: list[keras.layers.Layer] = [keras.Input((obs_size,), name="observation")]
    for i, units in enumerate(hidden_sizes):
        layers.append(keras.layers.Dense(units, activation=activation, name=f"hidden_{i}"))
    layers.append(keras.layers.Dense(n_actions, name="q_values"))
    return keras.Sequential(layers, name="q_network")


class NumpyMLP:
    """The forward pass of ``build_mlp``'s network in numpy, from its weights."""

    def __init__(self, weights: Sequence[np.ndarray], activation: str) -> None:
        self.activation = _NUMPY_ACTIVATIONS[activation]
        self.set_weights(weights)

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Take the Keras model's ``get_weights()`` (kernel, bias per layer)."""
        self.kernels = [np.asarray(w, dtype=np.float32) for w in weights[0::2]]
        self.biases = [np.asarray(b, dtype=np.float32) for b in weights[1::2]]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for a batch (or one) of normalised observations."""
        x = np.asarray(obs, dtype=np.float32)
        last = len(self.kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases, strict=True)):
            x = x @ kernel + bias
            if i < last:
                x = self.activation(x)
        return x

    @classmethod
    def from_model(cls, model: keras.Model) -> NumpyMLP:
        """Copy a model built by ``build_mlp``."""
        activation = model.layers[0].get_config()["activation"] if len(model.layers) > 1 else ""
        return cls(model.get_weights(), activation or "linear")
