# Fix 1 of the talk: an activation that amplifies the gradient instead of shrinking it. LeakyReLU with
# negative_slope=2 doubles the negative half; with the default init that about balances the 1/sqrt(3) per
# layer, so 32 layers keep their gradient within an order of magnitude and train.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp32-leaky2.py
#   --set "data=CIFAR100(root='~/data')" --set model.width=256 --set "optimizer.lr=(3e-5, 3e-6)" --set epochs=30
from reportgen import Adam, Experiment, GradientSpan, Learns, LeakyReLU, MLP, Record, Synthetic

EXPERIMENT = Experiment(
    name="mlp32-leaky2",
    title="32 layers, LeakyReLU(negative_slope=2)",
    description="Fix 1: an activation that amplifies the gradient. The diagram is flat and the net learns.",
    tags=("vanishing gradients", "activation", "mlp"),
    model=MLP(depth=32, width=64, activation=LeakyReLU(negative_slope=2)),
    data=Synthetic(n_train=1024, n_test=256),
    optimizer=Adam(lr=(1e-4, 1e-5)),
    epochs=16,
    record=Record(every=2),
    figures=("gradient_diagram", "gradient_heatmap"),
    claims=(GradientSpan(at="start", orders=(-1, 1)), Learns()),
)
