# The talk's 26 layers with no nonlinearity at all. PyTorch's default init scales each layer's signal by about
# 1/sqrt(3), so even a linear network's gradient fades: about 5 orders of magnitude from the last layer to
# the first at initialisation (`reportgen calibrate --depth 26 --activation 'Identity()'`).
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp26-linear.py
#   --set "data=CIFAR100(root='~/data')" --set model.width=256 --set "optimizer.lr=(3e-5, 3e-6)" --set epochs=30
from reportgen import Adam, Experiment, GradientSpan, Identity, MLP, Record, Synthetic

EXPERIMENT = Experiment(
    name="mlp26-linear",
    title="26 layers, no nonlinearity",
    description="A deep linear network: no activation to blame, and still the gradient fades toward the input.",
    tags=("vanishing gradients", "mlp"),
    model=MLP(depth=26, width=64, activation=Identity()),
    data=Synthetic(n_train=1024, n_test=256),
    optimizer=Adam(lr=(1e-3, 1e-4)),
    epochs=16,
    record=Record(every=2),
    figures=("gradient_diagram", "gradient_heatmap"),
    claims=(GradientSpan(at="start", orders=(3, 7)),),
)
