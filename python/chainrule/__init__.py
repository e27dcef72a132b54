"""chainrule: fully-connected N-layer networks with any activation per layer.

The maths (forward, backpropagation, the optimizers and schedules) runs in a C++ core; this package handles
configuration and data. See docs/design.md section 1 for the contract every part follows.
"""

from typing import List

from ._core import DivergenceError
from ._version import __version__
from .activations import (
    ELU,
    GELU,
    Activation,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    activation_names,
)
from .callbacks import Callback, EarlyStopping, History, StopTraining
from .dashboard import Dashboard
from .diagnostics import Diagnostics
from .file_callbacks import CSVLogger, ModelCheckpoint
from .interop import from_torch
from .layers import Dense, Layer, layer_names
from .losses import MSE, Loss, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy, loss_names
from .lr_finder import LRFinderResult
from .network import Network
from .network_steps import Gradients, LayerGradients
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, optimizer_names
from .run_log import RunLog
from .run_record import RunRecorder
from .runtime import cpu_info, get_num_threads, set_num_threads
from .schedules import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LRSchedule,
    ReduceLROnPlateau,
    StepLR,
    schedule_names,
)
from .serialization import load, register_activation, register_loss
from .tensorboard import TensorBoard


def metric_names() -> list:
    """Names of the metrics fit can record ("accuracy", "r2")."""
    from . import _registry

    return _registry.METRICS.names()


DivergenceError.__module__ = "chainrule"
DivergenceError.__doc__ = (
    "Training produced a non-finite loss or weight; the network went back to the end of the last "
    "finite epoch (weights, running statistics, optimizer state, shuffling generator, dropout "
    "stream)."
)

__all__ = [
    "Network",
    "History",
    "Gradients",
    "LayerGradients",
    "DivergenceError",
    "Layer",
    "Dense",
    "layer_names",
    "Activation",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Linear",
    "GELU",
    "SiLU",
    "Softplus",
    "activation_names",
    "Loss",
    "MSE",
    "SoftmaxCrossEntropy",
    "SigmoidBinaryCrossEntropy",
    "loss_names",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "optimizer_names",
    "LRSchedule",
    "ConstantLR",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
    "schedule_names",
    "Callback",
    "EarlyStopping",
    "StopTraining",
    "ModelCheckpoint",
    "CSVLogger",
    "LRFinderResult",
    "metric_names",
    "Dashboard",
    "TensorBoard",
    "RunRecorder",
    "RunLog",
    "Diagnostics",
    "cpu_info",
    "get_num_threads",
    "set_num_threads",
    "from_torch",
    "load",
    "register_activation",
    "register_loss",
    "__version__",
]


def _export_generated() -> List[str]:
    """Exports the classes the family modules generated for built-ins of the core that have no
    class written by hand (an activation or loss added in C++ alone): ``cr.Mish`` as
    ``chainrule.activations.Mish``. Type checkers see only the classes imported above."""
    from . import activations, layers, losses, optimizers, schedules

    names = []
    for module in (activations, layers, losses, optimizers, schedules):
        for name in module.__all__:
            obj = getattr(module, name)
            if name not in __all__ and isinstance(obj, type):
                globals()[name] = obj
                names.append(name)
    return names


__all__ += _export_generated()
