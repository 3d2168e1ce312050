# The talk's 26 plain layers of LeakyReLU(0.01): they train without any fix, but only in a narrow band of
# learning rates, and only after a long preparatory phase in which the loss stays flat while the gradient of
# the first layers already moves (watch each run's gradient heatmap). Here, at an eighth of the width, the
# band is around 1e-3, where getting through the flat start within 40 epochs depends on the seed; the talk
# compared 3e-5 with 3e-6 at full size. One sweep, so the runs share one page.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp26-leaky.py
#   --set "base.data=CIFAR100(root='~/data')" --set base.model.width=256 --set base.epochs=30
#   --set "grid={'optimizer.lr': (3e-5, 3e-6)}"
from reportgen import DoesNotLearn, Experiment, LeakyReLU, MLP, Record, Runs, Sweep, Synthetic

EXPERIMENT = Sweep(
    name="mlp26-leaky",
    title="26 layers, LeakyReLU(0.01): three learning rates",
    description="No fix needed at 26 layers, but the learning rate must fit: at 3e-3 the net never gets through "
                "the flat start. (At this small size, whether 1e-3 gets through within 40 epochs depends on the "
                "seed, so that is not claimed here.)",
    tags=("vanishing gradients", "learning rate", "sweep"),
    base=Experiment(name="base", model=MLP(depth=26, width=32, activation=LeakyReLU(negative_slope=0.01)),
                    data=Synthetic(n_train=1024, n_test=256), epochs=40,
                    record=Record(every=4, snapshots=0, snapshot_every=4),
                    figures=("gradient_diagram", "gradient_heatmap")),
    grid={"optimizer.lr": (3e-4, 1e-3, 3e-3)},
    claims=(Runs(where={"optimizer.lr": 3e-3}, claims=(DoesNotLearn(),)),),
)
