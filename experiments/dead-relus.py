# A ReLU unit whose input is negative on every sample gets no gradient and never comes back: it is dead. Adam at
# a too-high learning rate pushes many biases and weights that far in its first steps; at a usual rate almost
# none die. The activation-health figure counts, per layer and epoch, the units never positive on any batch.
from reportgen import Adam, DeadUnits, Experiment, Learns, MLP, Record, ReLU, Runs, Sweep, Synthetic

EXPERIMENT = Sweep(
    name="dead-relus",
    title="Dead ReLUs at a too-high learning rate",
    description="At Adam's usual rate (1e-3) at most a fifth of the hidden units die; at thirty times that at "
                "least a quarter are dead by the end of training, never positive on any sample.",
    tags=("activations", "dead units", "learning rate", "sweep"),
    base=Experiment(name="base", model=MLP(depth=6, width=64, activation=ReLU()),
                    data=Synthetic(n_train=1024, n_test=256, shape=(3, 8, 8)), epochs=8, batch_size=64,
                    record=Record(every=1, snapshots=0, snapshot_every=8, updates=True, activations=True),
                    figures=("activations", "update_ratio", "gradient_diagram")),
    grid={"optimizer.lr": (1e-3, 3e-2)},
    claims=(Runs(where={"optimizer.lr": 1e-3}, claims=(DeadUnits(within=(0, 0.2)),)),
            Runs(where={"optimizer.lr": 3e-2}, claims=(DeadUnits(within=(0.25, 1)),))),
)
