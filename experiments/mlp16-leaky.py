# The talk's first picture: 16 plain layers with LeakyReLU. The gradient fades layer by layer on its way
# back to the input, and biases and the first layers get one to two orders of magnitude more.
# Drawn per epoch and, with gradient_diagram(per_step=True), per step: each batch's wobble shows.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp16-leaky.py
#   --set "data=CIFAR100(root='~/data')" --set model.width=256 --set "optimizer.lr=(3e-5, 3e-6)" --set epochs=30
from reportgen import Adam, Experiment, GradientSpan, LeakyReLU, MLP

EXPERIMENT = Experiment(
    name="mlp16-leaky",
    title="16 layers, LeakyReLU",
    description="A plain 16-layer MLP: watch the gradient fade from output to input, epoch by epoch.",
    tags=("vanishing gradients", "mlp"),
    model=MLP(depth=16, width=64, activation=LeakyReLU(negative_slope=0.01)),
    optimizer=Adam(lr=(1e-3, 1e-4)),
    epochs=12,
    figures=("gradient_diagram", "gradient_diagram(per_step=True)", "gradient_heatmap", "weight_spectrum"),
    claims=(GradientSpan(at="start", orders=(2, 6)),),  # the last layer's gradient 2–6 orders above the first's
)
