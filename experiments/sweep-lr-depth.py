# The talk's sweep: learning rate against depth for TanH nets with the multiplier 1.8. Shallow nets (17 layers)
# are forgiving and even like a high rate; the deeper the net, the lower the rate it needs, and at a too high
# one its first layer's gradient collapses by many orders of magnitude ("visualise the results of experiments:
# as a table of numbers nothing can be understood"). Nine runs, trained side by side on the spare cores.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/sweep-lr-depth.py
#   --set "base.data=CIFAR100(root='~/data')" --set base.model.width=256 --set base.epochs=30
#   --set "grid={'optimizer.lr': (1e-6, 3e-6, 6.3e-6, 1e-5, 3e-5), 'model.depth': (17, 26, 50, 116)}"
from reportgen import Adam, BestFalls, Experiment, GradientSpan, Learns, MLP, Record, Runs, Sweep, Synthetic, Tanh

EXPERIMENT = Sweep(
    name="sweep-lr-depth",
    title="Learning rate × depth, TanH with multiplier 1.8",
    description="Which learning rates train which depths: deeper nets need lower rates and suffer more from high ones.",
    tags=("vanishing gradients", "learning rate", "sweep"),
    base=Experiment(name="base", model=MLP(depth=116, width=64, activation=Tanh(), multiplier=1.8),
                    data=Synthetic(n_train=1024, n_test=256), optimizer=Adam(), epochs=12,
                    record=Record(every=4, snapshots=0, snapshot_every=12), figures=("gradient_diagram",)),
    grid={"optimizer.lr": (3e-5, 3e-4, 3e-3), "model.depth": (17, 50, 116)},
    figures=("sweep_grid", "compare_loss", "compare_gradients"),  # no common plane: the depths differ in weights
    claims=(BestFalls(field="optimizer.lr", along="model.depth"),
            Runs(where={"optimizer.lr": 3e-3, "model.depth": 17}, claims=(Learns(),)),
            Runs(where={"optimizer.lr": 3e-3, "model.depth": 116}, claims=(GradientSpan(at="end", orders=(5, 40)),))),
)
