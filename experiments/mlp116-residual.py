# Skip connections (He et al. 2016) against the talk's vanishing gradient: 116 Linear layers of TanH with PyTorch's
# default initialisation, plain and with every hidden layer in a residual block h + Linear(tanh(h)). In the plain net
# the gradient fades layer by layer by tens of orders of magnitude; the skips carry it to the input unchanged. One
# sweep, so the two gradient diagrams are one page apart. The talk's size: --set base.model.width=256
from reportgen import DoesNotLearn, Experiment, GradientSpan, Learns, MLP, Record, Runs, Sweep, Synthetic, Tanh

EXPERIMENT = Sweep(
    name="mlp116-residual",
    title="116 layers of TanH, plain and residual",
    description="The same 116-layer TanH net with and without skip connections: without them the gradient that "
                "reaches the first layer is tens of orders of magnitude below the last layer's and the net does not "
                "learn; with them the gradient diagram is flat and it learns.",
    tags=("vanishing gradients", "skip connections", "sweep"),
    base=Experiment(name="base", model=MLP(depth=116, width=64, activation=Tanh()),
                    data=Synthetic(n_train=1024, n_test=256), epochs=8,
                    record=Record(every=2, snapshots=0, snapshot_every=8),
                    figures=("gradient_diagram", "gradient_heatmap")),
    grid={"model.residual": (False, True)},
    claims=(Runs(where={"model.residual": False}, claims=(GradientSpan(at="start", orders=(20, 60)), DoesNotLearn())),
            Runs(where={"model.residual": True}, claims=(GradientSpan(at="start", orders=(-2, 2)), Learns()))),
)
