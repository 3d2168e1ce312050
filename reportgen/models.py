"""What a run trains: model builders by spec type, filled by a decorator."""
from __future__ import annotations

import torch
from torch import nn

from . import spec

BUILDERS: dict[type, callable] = {}


def builder(kind: type):
    """Register `fn(model_spec, in_shape, classes) -> nn.Module` as the builder of a model spec."""
    def add(fn):
        BUILDERS[kind] = fn
        return fn
    return add


def build(model: spec.Model, in_shape: tuple[int, ...], classes: int) -> nn.Module:
    """The nn.Module a model spec describes, with PyTorch's default initialisation."""
    return BUILDERS[type(model)](model, tuple(in_shape), classes)


def activation(act: spec.Activation) -> nn.Module:
    if isinstance(act, spec.LeakyReLU):
        return nn.LeakyReLU(negative_slope=act.negative_slope)
    return {spec.ReLU: nn.ReLU, spec.Tanh: nn.Tanh, spec.GELU: nn.GELU, spec.Identity: nn.Identity}[type(act)]()


@builder(spec.MLP)
def mlp(m: spec.MLP, in_shape, classes) -> nn.Module:
    features = 1
    for n in in_shape:
        features *= n
    sizes = [features] + [m.width] * (m.depth - 1) + [classes]
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(a, b, bias=m.bias)
        if i > 0 and m.multiplier != 1.0:
            with torch.no_grad():
                linear.weight.mul_(m.multiplier)
        if i > 0:
            layers.append(activation(m.activation))
        layers.append(linear)
    return nn.Sequential(*layers)


@builder(spec.CNN)
def cnn(m: spec.CNN, in_shape, classes) -> nn.Module:
    channels, height, width = in_shape
    layers: list[nn.Module] = []
    for out in m.channels:
        layers += [nn.Conv2d(channels, out, 3, padding=1)]
        layers += [nn.BatchNorm2d(out)] if m.batchnorm else []
        layers += [activation(m.activation), nn.MaxPool2d(2)]
        channels, height, width = out, height // 2, width // 2
    layers += [nn.Flatten(), nn.Dropout(m.dropout)] if m.dropout else [nn.Flatten()]
    layers += [nn.Linear(channels * height * width, m.width), activation(m.activation), nn.Linear(m.width, classes)]
    return nn.Sequential(*layers)
