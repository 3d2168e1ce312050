# Full-batch gradient descent on a small Tanh MLP (Cohen et al. 2021): the sharpness, the top eigenvalue of the
# training loss's Hessian, rises during training ("progressive sharpening") until it reaches 2/η, the largest
# curvature a step of size η can descend stably, and then hovers there while the loss keeps falling, unevenly.
# Noisy synthetic data on 8x8 inputs, so the loss stays well above zero for the whole run (cross-entropy's
# curvature fades once it nears zero). Each epoch is one step; the sharpness is measured on the whole set.
from reportgen import (SGD, AtEdgeOfStability, Experiment, MLP, Record, Sharpens, Sharpness, Synthetic, Tanh)

EXPERIMENT = Experiment(
    name="edge-of-stability",
    title="Full-batch gradient descent at the edge of stability",
    description="The sharpness rises from a tenth of 2/η to the limit and then stays near it for the rest of the "
                "run: gradient descent trains at the edge of stability, not below it.",
    tags=("sharpness", "edge of stability", "learning rate"),
    model=MLP(depth=3, width=32, activation=Tanh()),
    data=Synthetic(n_train=2048, n_test=256, shape=(1, 8, 8), noise=8.0),
    optimizer=SGD(lr=1.0),
    epochs=500,
    batch_size=2048,   # full batch: one step an epoch
    record=Record(every=10, snapshots=0, snapshot_every=500, checkpoint_every=50,
                  sharpness=Sharpness(steps=20, iterations=20, batch=2048, probes=4)),
    figures=("sharpness", "grad_norm"),
    claims=(Sharpens(by=5), AtEdgeOfStability(within=(0.8, 1.5), tail=0.5)),
)
