# The talk's 116 layers of TanH with the weight multiplier 1.8: they train at a low learning rate, and at a
# higher one the gradient that first flowed to the input collapses within an epoch or two and does not come
# back. Here at a tenth of the width and a few hundred steps the rates that show it are 3e-5 against 3e-4, ten
# times apart as in the talk. One sweep, so the two runs are compared on one page.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp116-tanh-x1.8.py
#   --set "base.data=CIFAR100(root='~/data')" --set base.model.width=256 --set base.epochs=30
#   --set "grid={'optimizer.lr': ((3e-6, 3e-8), 3e-5)}"
from reportgen import Experiment, GradientSpan, MLP, Record, Runs, Sweep, Synthetic, Tanh

EXPERIMENT = Sweep(
    name="mlp116-tanh-x1.8",
    title="116 layers, TanH, multiplier 1.8: two learning rates",
    description="At the low rate the gradient keeps flowing to the input; at ten times that it collapses. (At this "
                "small size the low rate learns only slowly, so learning is not claimed here; the talk's run shows "
                "it.)",
    tags=("vanishing gradients", "multiplier", "learning rate", "sweep"),
    base=Experiment(name="base", model=MLP(depth=116, width=64, activation=Tanh(), multiplier=1.8),
                    data=Synthetic(n_train=1024, n_test=256), epochs=16,
                    record=Record(every=2, snapshots=0, snapshot_every=16),
                    figures=("gradient_diagram", "gradient_heatmap")),
    grid={"optimizer.lr": (3e-5, 3e-4)},
    claims=(Runs(where={"optimizer.lr": 3e-5}, claims=(GradientSpan(at="end", orders=(-1.5, 1.5)),)),
            # collapsed: the first layer's gradient ends orders below the last one's (from where it started, by how
            # much depends on the seed)
            Runs(where={"optimizer.lr": 3e-4}, claims=(GradientSpan(at="end", orders=(3, 40)),))),
)
