# The talk's 80 plain layers of LeakyReLU(0.01) without any fix: at initialisation the first layer's gradient
# is about 30 orders of magnitude below the last one's (1e-33 against 1e-5), so nothing reaches the input and
# the net does not learn. The same net with the multiplier: experiments/mlp80-leaky-x2.37.py.
# The talk's size (CIFAR-100 files in ~/data/cifar-100-python): reportgen run experiments/mlp80-leaky.py
#   --set "data=CIFAR100(root='~/data')" --set model.width=256 --set "optimizer.lr=(3e-5, 3e-6)" --set epochs=30
from reportgen import Adam, DoesNotLearn, Experiment, GradientSpan, LeakyReLU, MLP, Record, Synthetic

EXPERIMENT = Experiment(
    name="mlp80-leaky",
    title="80 layers, LeakyReLU(0.01), no fix",
    description="Thirty orders of magnitude between the last layer's gradient and the first's: nothing learns.",
    tags=("vanishing gradients", "mlp"),
    model=MLP(depth=80, width=64, activation=LeakyReLU(negative_slope=0.01)),
    data=Synthetic(n_train=1024, n_test=256, noise=0.5),  # the data and rates of the multiplied net beside it
    optimizer=Adam(lr=(1e-3, 1e-4)),
    epochs=16,
    record=Record(every=2),
    figures=("gradient_diagram", "gradient_heatmap"),
    claims=(GradientSpan(at="start", orders=(25, 35)), DoesNotLearn()),
)
