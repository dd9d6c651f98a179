"""nn: a small PyTorch-like neural-network library on autograd_lite's public API.

    from nn import MLP, Adam, fit
    from nn.data import make_moons
    X, y = make_moons(200, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], activation="tanh", seed=0)
    history = fit(model, X, y, optimizer=Adam(model.parameters(), lr=0.05), epochs=50)

Modules: `module` (Module, state, save/load), `layers` (Neuron, Layer, MLP, manual_seed),
`rnn` (RNNCell), `losses`, `optim` (SGD, Adam), `data` (data sets, split, scaling), `train`
(fit, evaluate, predict), `metrics` (decision rules, accuracy), `arrays` (reading lists and
numpy arrays), `live` (fit(live=True) in Jupyter), `health` (neuron_health), `torch_bridge`
(model.to_torch(), MLP.from_torch()).
"""

from . import data, losses, metrics
from .health import NeuronHealth, neuron_health
from .layers import MLP, Layer, Neuron, initial_seed, manual_seed
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge,
    log_softmax,
    logsumexp,
    mse,
    multi_margin,
    softmax,
)
from .metrics import accuracy, confusion_matrix
from .module import Module
from .optim import SGD, Adam, Optimizer
from .rnn import RNNCell, unroll
from .train import History, evaluate, fit, predict, train_batch

__all__ = [
    "Module", "Neuron", "Layer", "MLP", "RNNCell", "unroll", "manual_seed", "initial_seed",
    "Optimizer", "SGD", "Adam",
    "fit", "train_batch", "History", "predict", "accuracy", "confusion_matrix", "evaluate",
    "mse", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "hinge", "multi_margin", "softmax", "log_softmax", "logsumexp",
    "neuron_health", "NeuronHealth",
    "losses", "data", "metrics",
]
