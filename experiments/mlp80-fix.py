# The talk's two 80-layer nets on the same axes and the same clock: experiments/mlp80-leaky.py (no fix) and
# experiments/mlp80-leaky-x2.37.py (every weight multiplied by 10^(30/80)), each trained again here as a run of
# this comparison. No trajectory map: the multiplier scales the initial weights too, so the two starts lie so far
# apart that the distance between them is the first principal direction (99.7 % of the variance) and both paths
# shrink to dots beside it.
from reportgen import Compare, DoesNotLearn, GradientSpan, Learns, Runs, experiment

EXPERIMENT = Compare(
    name="mlp80-fix",
    title="80 layers with and without the multiplier",
    description="The same 80 LeakyReLU layers drawn together: without the multiplier the first layer's gradient "
                "starts 25 to 35 orders of magnitude below the last one's and the net does not learn; with it the "
                "gradient is level across the layers (within one order) and the net learns.",
    tags=("vanishing gradients", "multiplier", "compare"),
    figures=("compare_gradients", "compare_loss"),
    experiments=(experiment("mlp80-leaky"), experiment("mlp80-leaky-x2.37")),
    claims=(Runs(where={"experiment": "mlp80-leaky"}, claims=(GradientSpan(at="start", orders=(25, 35)), DoesNotLearn())),
            Runs(where={"experiment": "mlp80-leaky-x2.37"}, claims=(GradientSpan(at="start", orders=(-1, 1)), Learns()))),
)
