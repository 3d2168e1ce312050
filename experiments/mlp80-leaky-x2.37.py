# 80 plain layers lose ~30 orders of magnitude of gradient; 10**(30/80) = 2.37 restores it (fix 2 of the talk:
# scale the weights that follow each activation, since they enter the gradient as a factor).
from reportgen.spec import MLP, Adam, Experiment, LeakyReLU

EXPERIMENT = Experiment(
    name="mlp80-leaky-x2.37",
    title="80 layers, LeakyReLU(0.01), multiplier 2.37",
    description="The weight multiplier 10^(30/80) keeps the gradient flat across 80 layers, so all of them learn.",
    tags=("vanishing gradients", "multiplier", "mlp"),
    model=MLP(depth=80, width=64, activation=LeakyReLU(negative_slope=0.01), multiplier=2.37),
    optimizer=Adam(lr=(3e-4, 3e-5)),
    epochs=12,
)
