# Two optimizers on one network and data (experiments/edge-of-stability.py's, full batch). Gradient descent's
# sharpness, the Hessian's top eigenvalue, rises to 2/η and stays there. Adam's counterpart is the preconditioned
# sharpness, the top eigenvalue of P⁻¹H with P = diag(√v̂ + ε), whose limit is (2 + 2β₁)/((1 − β₁)η) = 38/η
# (Cohen et al. 2022, "Adaptive Gradient Methods at the Edge of Stability"); here it rises several-fold too, but
# turns down well below that limit as Adam fits the training set (at 3e-3 and at 1e-2 alike: tried). The sharpness
# figure says which one it draws.
from reportgen import (SGD, Adam, AtEdgeOfStability, Experiment, MLP, Record, Runs, Sharpens, Sharpness, Sweep,
                       Synthetic, Tanh)

EXPERIMENT = Sweep(
    name="sgd-vs-adam",
    title="Gradient descent and Adam at the edge of stability",
    description="Gradient descent's sharpness rises to 2/η and stays near it; Adam's preconditioned sharpness rises "
                "several-fold as well, but over the second half of training it stays below 0.8 × its limit 38/η: "
                "on this data Adam does not reach the edge of stability.",
    tags=("sharpness", "edge of stability", "optimizers", "sweep"),
    base=Experiment(name="base", model=MLP(depth=3, width=32, activation=Tanh()),
                    data=Synthetic(n_train=2048, n_test=256, shape=(1, 8, 8), noise=8.0), epochs=400, batch_size=2048,
                    record=Record(every=10, snapshots=0, snapshot_every=20, checkpoint_every=50, updates=True,
                                  sharpness=Sharpness(steps=20, iterations=20, batch=2048, probes=0)),
                    figures=("sharpness", "update_ratio")),
    grid={"optimizer": (SGD(lr=1.0), Adam(lr=3e-3))},
    claims=(Runs(where={"optimizer": SGD(lr=1.0)}, claims=(Sharpens(by=5), AtEdgeOfStability(within=(0.8, 1.5)))),
            Runs(where={"optimizer": Adam(lr=3e-3)}, claims=(Sharpens(by=3), AtEdgeOfStability(within=(0, 0.8))))),
)
