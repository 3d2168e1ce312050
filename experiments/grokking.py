# Grokking (Power et al. 2022; seed 001): a small Transformer on a ∘ b = c mod p memorises its training equations
# early and generalises to the unseen ones much later; strong weight decay (AdamW, λ = 1) shortens the delay.
# Full batch.
# On one CPU core the whole delay takes several minutes even at p = 31 (test accuracy was still rising through 36 % at
# step 3000, two minutes in), so the gallery run shows only the early phase: 1000 steps in which the training
# accuracy saturates. The seed's size (2 layers, width 128, 4 heads, p = 97), long enough to grok:
#   reportgen run experiments/grokking.py --set data.p=97 --set model.layers=2 --set model.width=128
#   --set batch_size=4096 --set epochs=20000 --set record.every=100
from reportgen import Experiment, ModularArithmetic, Optim, Record, Transformer

EXPERIMENT = Experiment(
    name="grokking",
    title="Grokking, the early phase (mod 31)",
    description="A one-layer Transformer trained full-batch by AdamW with weight decay 1 on half of all sums a + b mod "
                "31, for 1000 steps. This run is too short to show the later jump of the test accuracy (it is not "
                "claimed here); the script's --set line trains the seed's size for long enough.",
    tags=("grokking", "transformer", "weight decay"),
    model=Transformer(layers=1, width=64, heads=4),
    data=ModularArithmetic(p=31, op="+", train_fraction=0.5),
    optimizer=Optim(name="AdamW", lr=1e-3, options={"weight_decay": 1.0, "betas": (0.9, 0.98)}),
    batch_size=512,   # more than the 480 training equations: one full batch a step
    epochs=1000,
    record=Record(every=10, snapshots=0, snapshot_every=100, checkpoint_every=100),
)
