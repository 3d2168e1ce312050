"""What a user declares: `from reportgen.declare import Experiment, MLP, ...` (or `from reportgen import ...`)."""
from .claims import (AtEdgeOfStability, BestFalls, DeadUnits, Diverges, DoesNotLearn, GradientCollapse, GradientSpan,
                     Learns, Runs, Saturated, Sharpens)
from .data import CIFAR10, CIFAR100, MNIST, Data, FashionMNIST, ModularArithmetic, Synthetic
from .demos import CityMDS, Demo, DoubleDescent, LayerCompression, NewtonField, OptimizerRace, Racer, SVDCompression
from .experiment import Experiment, Landscape, Record, Recorded, Sharpness
from .factory import Dataset, Module
from .model import CNN, GELU, MLP, Activation, Identity, LeakyReLU, Model, ReLU, ResNet, Tanh, Transformer
from .optim import (SGD, Adam, AdamW, Clip, Cosine, Cyclic, LinearDecay, Optim, Optimizer, Schedule, StepDecay, Warmup,
                    WarmupCooldown)
from .spec import SpecError
from .load import experiment
from .sweep import Compare, Sweep

__all__ = ["CIFAR10", "CIFAR100", "CNN", "GELU", "MLP", "MNIST", "SGD", "Activation", "Adam", "AdamW",
           "AtEdgeOfStability", "BestFalls", "CityMDS", "Clip", "Compare", "Cosine", "Cyclic", "Data", "Dataset", "DeadUnits",
           "Demo", "Diverges", "DoesNotLearn", "DoubleDescent", "Experiment", "FashionMNIST", "GradientCollapse",
           "GradientSpan", "Identity", "Landscape", "LayerCompression", "LeakyReLU", "Learns", "LinearDecay", "Model",
           "ModularArithmetic", "Module", "NewtonField", "Optim", "Optimizer", "OptimizerRace", "Racer", "ReLU",
           "Record", "Recorded", "ResNet", "Runs", "SVDCompression", "Saturated", "Schedule", "Sharpens", "Sharpness",
           "SpecError", "StepDecay", "Sweep", "Synthetic", "Tanh", "Transformer", "Warmup", "WarmupCooldown", "experiment"]
