"""chainrule: fully-connected N-layer networks with any activation per layer.

The maths (forward, backpropagation, SGD) runs in a C++ core; this package handles
configuration and data. See DESIGN.md section 1 for the contract every part follows.
"""

from ._core import DivergenceError
from .runtime import cpu_info, get_num_threads, set_num_threads
from .activations import (
    ELU, GELU, Activation, LeakyReLU, Linear, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh,
    activation_names,
)
from .losses import MSE, Loss, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy, loss_names
from .network import Gradients, History, LayerGradients, Network
from .interop import from_torch
from .serialization import load, register_activation, register_loss

__version__ = "0.1.0"

DivergenceError.__module__ = "chainrule"
DivergenceError.__doc__ = ("Training produced a non-finite loss or weight; the weights of the last "
                           "finite epoch were kept.")

__all__ = [
    "Network", "History", "Gradients", "LayerGradients", "DivergenceError",
    "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softmax", "Linear", "GELU",
    "SiLU", "Softplus", "activation_names",
    "Loss", "MSE", "SoftmaxCrossEntropy", "SigmoidBinaryCrossEntropy", "loss_names",
    "cpu_info", "get_num_threads", "set_num_threads", "from_torch", "load",
    "register_activation", "register_loss", "__version__",
]
