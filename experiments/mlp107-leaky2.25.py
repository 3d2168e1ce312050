# The talk's 107 layers with LeakyReLU(negative_slope=2.25): the amplifying activation alone carries the
# gradient through more than a hundred layers. The talk saw the preparatory phase on the trajectory within the
# first epoch, so this run keeps the default dense weight snapshots of the first epoch.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp107-leaky2.25.py
#   --set "data=CIFAR100(root='~/data')" --set model.width=256 --set "optimizer.lr=(3e-5, 3e-6)" --set epochs=30
from reportgen import Adam, Experiment, GradientSpan, Landscape, Learns, LeakyReLU, MLP, Record, Synthetic

EXPERIMENT = Experiment(
    name="mlp107-leaky2.25",
    title="107 layers, LeakyReLU(negative_slope=2.25)",
    description="More than a hundred plain layers train when the activation amplifies the gradient.",
    tags=("vanishing gradients", "activation", "mlp"),
    model=MLP(depth=107, width=64, activation=LeakyReLU(negative_slope=2.25)),
    data=Synthetic(n_train=1024, n_test=256, noise=0.5),  # less noisy: its test accuracy then passes twice chance
    optimizer=Adam(lr=(1e-4, 1e-5)),
    epochs=16,
    record=Record(every=2),
    landscape=Landscape(line=0, plane=0),  # the trajectory only: its projections and losses, no grids
    figures=("gradient_diagram", "gradient_heatmap", "trajectory_map"),
    claims=(GradientSpan(at="start", orders=(-1, 1)), Learns()),
)
