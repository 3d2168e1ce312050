"""A plain PyTorch training loop, recorded by reportgen in four lines (marked `# reportgen`).

    python examples/plain_loop.py     # trains a few seconds on the CPU, writes runs/plain-loop/<id>/
    reportgen build                   # the site shows it beside the declared experiments
"""
import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import reportgen  # reportgen


def main(runs: str = "runs", epochs: int = 8, n: int = 4096, depth: int = 8, width: int = 64, seed: int = 0):
    torch.manual_seed(seed)
    teacher = torch.randn(32, 4)  # the labels: which of 4 random directions each input leans to most
    x = torch.randn(n + 1024, 32)
    y = (x @ teacher).argmax(1)
    train = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=64, shuffle=True)
    layers = [nn.Linear(32, width)]
    for _ in range(depth - 2):
        layers += [nn.LeakyReLU(), nn.Linear(width, width)]
    model = nn.Sequential(*layers, nn.LeakyReLU(), nn.Linear(width, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    config = {"epochs": epochs, "n": n, "depth": depth, "width": width, "seed": seed, "lr": 1e-3, "batch_size": 64}
    with reportgen.Recorder(model, f"{runs}/plain-loop", config, every=1,  # reportgen
                            title="A plain PyTorch loop, recorded") as rec:
        for _ in range(epochs):
            for xb, yb in train:
                out = model(xb)
                loss = F.cross_entropy(out, yb)
                opt.zero_grad()
                loss.backward()
                rec.step(loss=loss, optimizer=opt, accuracy=(out.argmax(1) == yb).float().mean())  # reportgen
                opt.step()
            with torch.no_grad():
                out = model(x[n:])
            val_loss, val_accuracy = F.cross_entropy(out, y[n:]), (out.argmax(1) == y[n:]).float().mean()
            rec.epoch(val_loss=val_loss, val_accuracy=val_accuracy)  # reportgen
    return rec.run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    print(main(args.runs, args.epochs).path)
