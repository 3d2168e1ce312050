"""What a user declares: `from reportgen.declare import Experiment, MLP, ...` (or `from reportgen import ...`)."""
from .claims import (AtEdgeOfStability, BestFalls, DeadUnits, Diverges, DoesNotLearn, GradientCollapse, GradientSpan,
                     Learns, Runs, Saturated, Sharpens)
from .data import CIFAR10, CIFAR100, MNIST, Data, FashionMNIST, Synthetic
from .demos import CityMDS, Demo, LayerCompression, NewtonField, OptimizerRace, Racer, SVDCompression
from .experiment import Experiment, Landscape, Record, Recorded, Sharpness
from .model import CNN, GELU, MLP, Activation, Identity, LeakyReLU, Model, ReLU, Tanh
from .optim import (SGD, Adam, AdamW, Clip, Cosine, Cyclic, LinearDecay, Optimizer, Schedule, StepDecay, Warmup,
                    WarmupCooldown)
from .spec import SpecError
from .sweep import Sweep

__all__ = ["AtEdgeOfStability", "DeadUnits", "Saturated", "Sharpens", "CIFAR10", "CIFAR100", "CNN", "GELU", "MLP", "MNIST", "SGD", "Activation", "Adam", "AdamW", "BestFalls",
           "CityMDS", "Clip", "Cosine", "Cyclic", "Data", "Demo", "Diverges", "DoesNotLearn", "Experiment",
           "FashionMNIST", "GradientCollapse", "GradientSpan", "Identity", "Landscape", "LayerCompression", "LeakyReLU",
           "Learns", "LinearDecay", "Model", "NewtonField", "Optimizer", "OptimizerRace", "Racer", "ReLU", "Record",
           "Recorded", "Runs", "SVDCompression", "Schedule", "Sharpness", "SpecError", "StepDecay", "Sweep", "Synthetic", "Tanh",
           "Warmup", "WarmupCooldown"]
