"""Your own dataset (declare.Dataset): its factory's tensors or torch datasets, checked, as data.Tensors' fields."""
from __future__ import annotations

import torch

from .. import declare as spec
from ..declare.factory import resolve, where


def _fail(d: spec.Dataset, why: str) -> spec.SpecError:
    return spec.SpecError(f"Dataset.factory = {d.factory!r}{where(d)}: {why}; allowed: a function returning "
                          "(x_train, y_train, x_test, y_test) tensors or (train, test) datasets of (x, y), "
                          "y class indices, every x of one shape")


def _stack(split) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of a torch dataset of (x, y) pairs, every sample stacked."""
    xs, ys = zip(*(split[i] for i in range(len(split))))
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys)


def tensors(d: spec.Dataset) -> tuple:
    """(x_train, y_train, x_test, y_test, class names, vocab): images as float32, token sequences as int64."""
    got = resolve(d)(**d.options)
    if isinstance(got, (tuple, list)) and len(got) == 2:
        try:
            got = (*_stack(got[0]), *_stack(got[1]))
        except Exception as e:  # noqa: BLE001 - the user's datasets: anything that is not (x, y) pairs reads the same
            raise _fail(d, f"returned two splits that are not datasets of (x, y) pairs ({type(e).__name__}: {e})")
    if not (isinstance(got, (tuple, list)) and len(got) == 4 and all(torch.is_tensor(t) for t in got)):
        raise _fail(d, f"returned a {type(got).__name__}" + (f" of {len(got)}" if isinstance(got, (tuple, list)) else ""))
    x_train, y_train, x_test, y_test = got
    shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(("x_train", "y_train", "x_test", "y_test"), got))
    if (y_train.dim() != 1 or y_test.dim() != 1 or len(x_train) != len(y_train) or len(x_test) != len(y_test)
            or x_train.shape[1:] != x_test.shape[1:] or not len(x_train) or not len(x_test)):
        raise _fail(d, f"returned {shapes}")
    if y_train.is_floating_point() or y_test.is_floating_point():
        raise _fail(d, f"returned labels of {y_train.dtype}")
    classes = d.classes or int(max(y_train.max(), y_test.max())) + 1
    if min(y_train.min(), y_test.min()) < 0 or max(y_train.max(), y_test.max()) >= classes:
        raise _fail(d, f"returned labels from {int(min(y_train.min(), y_test.min()))} to "
                       f"{int(max(y_train.max(), y_test.max()))} for {classes} classes")
    if x_train.dtype in (torch.int64, torch.int32):  # token sequences (uint8 images are numbers)
        vocab = int(max(x_train.max(), x_test.max())) + 1
        return x_train.long(), y_train.long(), x_test.long(), y_test.long(), tuple(map(str, range(classes))), vocab
    return x_train.float(), y_train.long(), x_test.float(), y_test.long(), tuple(map(str, range(classes))), None
