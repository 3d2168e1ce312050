"""What a run trains: the nn.Module of each model declaration and activation, by declaration type."""
from __future__ import annotations

import torch
from torch import nn

from .. import declare as spec
from ..registry import Registry

MODELS = Registry("model")        # fn(model declaration, in_shape, classes) -> nn.Module
ACTIVATIONS = Registry("activation")
ACTIVATIONS.register(spec.LeakyReLU, lambda a: nn.LeakyReLU(negative_slope=a.negative_slope))
for _kind, _module in ((spec.ReLU, nn.ReLU), (spec.Tanh, nn.Tanh), (spec.GELU, nn.GELU), (spec.Identity, nn.Identity)):
    ACTIVATIONS.register(_kind, lambda a, m=_module: m())


def build(model: spec.Model, in_shape: tuple[int, ...], classes: int) -> nn.Module:
    """The nn.Module a model spec describes, with PyTorch's default initialisation."""
    return MODELS[type(model)](model, tuple(in_shape), classes)


def activation(act: spec.Activation) -> nn.Module:
    return ACTIVATIONS[type(act)](act)


@MODELS.register(spec.MLP)
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


@MODELS.register(spec.CNN)
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
