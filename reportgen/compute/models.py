"""What a run trains: the nn.Module of each model declaration and activation, by declaration type."""
from __future__ import annotations

import torch
from torch import nn

from .. import declare as spec
from ..registry import Registry

MODELS = Registry("model")        # fn(model declaration, in_shape, classes, vocab) -> nn.Module
ACTIVATIONS = Registry("activation")
ACTIVATIONS.register(spec.LeakyReLU, lambda a: nn.LeakyReLU(negative_slope=a.negative_slope))
for _kind, _module in ((spec.ReLU, nn.ReLU), (spec.Tanh, nn.Tanh), (spec.GELU, nn.GELU), (spec.Identity, nn.Identity)):
    ACTIVATIONS.register(_kind, lambda a, m=_module: m())


def build(model: spec.Model, in_shape: tuple[int, ...], classes: int, vocab: int | None = None) -> nn.Module:
    """The nn.Module a model spec describes, with PyTorch's default initialisation; `vocab`: the number of
    distinct tokens, for data of token sequences."""
    return MODELS[type(model)](model, tuple(in_shape), classes, vocab)


def activation(act: spec.Activation) -> nn.Module:
    return ACTIVATIONS[type(act)](act)


class Residual(nn.Module):
    """x + body(x): a skip connection around `body`."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


@MODELS.register(spec.MLP)
def mlp(m: spec.MLP, in_shape, classes, vocab=None) -> nn.Module:
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
        if i == 0:
            layers.append(linear)
        elif m.residual and a == b and i < len(sizes) - 2:  # a hidden layer: width to width
            layers.append(Residual(nn.Sequential(activation(m.activation), linear)))
        else:
            layers += [activation(m.activation), linear]
    return nn.Sequential(*layers)


@MODELS.register(spec.CNN)
def cnn(m: spec.CNN, in_shape, classes, vocab=None) -> nn.Module:
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


def conv_norm(c: int, out: int, size: int, stride: int, batchnorm: bool) -> nn.Sequential:
    """A conv (no bias when a batch norm follows, which has its own) and its batch norm."""
    conv = nn.Conv2d(c, out, size, stride=stride, padding=size // 2, bias=not batchnorm)
    return nn.Sequential(conv, nn.BatchNorm2d(out)) if batchnorm else nn.Sequential(conv)


class Block(nn.Module):
    """A ResNet basic block: act(conv-BN-act-conv-BN(x) + shortcut(x)); no shortcut at all when `skip` is off."""

    def __init__(self, c: int, out: int, stride: int, m: spec.ResNet):
        super().__init__()
        self.first, self.act = conv_norm(c, out, 3, stride, m.batchnorm), activation(m.activation)
        self.second = conv_norm(out, out, 3, 1, m.batchnorm)
        projection = stride != 1 or c != out
        self.shortcut = (conv_norm(c, out, 1, stride, m.batchnorm) if projection else nn.Identity()) if m.skip else None

    def forward(self, x):
        h = self.second(self.act(self.first(x)))
        return self.act(h if self.shortcut is None else h + self.shortcut(x))


@MODELS.register(spec.ResNet)
def resnet(m: spec.ResNet, in_shape, classes, vocab=None) -> nn.Module:
    c = m.channels[0]
    layers: list[nn.Module] = [conv_norm(in_shape[0], c, 3, 1, m.batchnorm), activation(m.activation)]
    for stage, out in enumerate(m.channels):
        for block in range(m.blocks):
            layers.append(Block(c, out, 2 if stage and not block else 1, m))
            c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


class Attention(nn.Module):
    """A pre-norm decoder block: x + attention(LN(x)) with a causal mask, then x + MLP(LN(x)), as GPT-2's."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.qkv, self.out = nn.LayerNorm(width), nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout))

    def forward(self, x):
        n, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                       dropout_p=self.dropout if self.training else 0.0)
        x = x + self.out(a.transpose(1, 2).reshape(n, t, w))
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    """Token and position embeddings, the blocks, a final layer norm and the classifier at the last position."""

    def __init__(self, m: spec.Transformer, length: int, classes: int, vocab: int):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, m.width), nn.Embedding(length, m.width)
        self.blocks = nn.Sequential(*(Attention(m.width, m.heads, m.dropout) for _ in range(m.layers)))
        self.norm, self.head = nn.LayerNorm(m.width), nn.Linear(m.width, classes)

    def forward(self, x):
        h = self.tokens(x) + self.positions(torch.arange(x.shape[1], device=x.device))
        return self.head(self.norm(self.blocks(h))[:, -1])


@MODELS.register(spec.Transformer)
def transformer(m: spec.Transformer, in_shape, classes, vocab=None) -> nn.Module:
    return Decoder(m, in_shape[0], classes, vocab)


@MODELS.register(spec.Module)
def module(m: spec.Module, in_shape, classes, vocab=None) -> nn.Module:
    """Your own factory's network, checked to be an nn.Module (its output is checked by `check_output`)."""
    from ..declare.factory import resolve, where
    built = resolve(m)(in_shape, classes, **m.options)
    if not isinstance(built, nn.Module):
        raise spec.SpecError(f"Module.factory = {m.factory!r}{where(m)}: returned a {type(built).__name__}; "
                             "allowed: a function returning an nn.Module")
    return built


def check_output(m: spec.Model, model: nn.Module, x: torch.Tensor, classes: int) -> None:
    """One SpecError unless `model` maps a batch of two samples to [2, classes] (your own factories' networks)."""
    if not isinstance(m, spec.Module):
        return
    from ..declare.factory import where
    with torch.no_grad():
        try:
            out = model(x[:2])
        except Exception as e:  # noqa: BLE001 - the user's network: any failure on a batch reads the same
            raise spec.SpecError(f"Module.factory = {m.factory!r}{where(m)}: its network fails on a batch of shape "
                                 f"{tuple(x[:2].shape)} ({type(e).__name__}: {e})") from None
    if not (torch.is_tensor(out) and tuple(out.shape) == (len(x[:2]), classes)):
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise spec.SpecError(f"Module.factory = {m.factory!r}{where(m)}: its output is {shape} for a batch of "
                             f"{len(x[:2])}; allowed: [batch, classes] = [{len(x[:2])}, {classes}]")
