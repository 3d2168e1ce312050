# Tanh saturates: once |a| nears 1 its slope, 1 − a², is nearly zero, and the gradient through it fades. A deep Tanh
# MLP whose weights are scaled up at initialisation (multiplier 8: a gain of about 4.6 on PyTorch's default)
# drives most units into saturation from the first step; at the default scale (multiplier 1, a gain of about 0.6)
# the activations shrink with depth instead and hardly any saturates. The activation-health figure shows it per layer.
from reportgen import Adam, Experiment, MLP, Record, Runs, Saturated, Sweep, Synthetic, Tanh

EXPERIMENT = Sweep(
    name="tanh-saturation",
    title="Tanh saturation with scaled-up weights",
    description="With the weights scaled up eight times at initialisation, at least 40 % of the Tanh outputs are "
                "saturated (|a| > 0.97) in the last epoch; at the default scale almost none are (under 5 %).",
    tags=("activations", "saturation", "multiplier", "sweep"),
    base=Experiment(name="base", model=MLP(depth=24, width=64, activation=Tanh()), optimizer=Adam(lr=1e-3),
                    data=Synthetic(n_train=512, n_test=128, shape=(3, 8, 8)), epochs=4, batch_size=64,
                    record=Record(every=2, snapshots=0, snapshot_every=4, updates=True, activations=True),
                    figures=("activations", "update_ratio(heatmap=True)", "gradient_diagram")),
    grid={"model.multiplier": (1.0, 8.0)},
    claims=(Runs(where={"model.multiplier": 1.0}, claims=(Saturated(within=(0, 0.05)),)),
            Runs(where={"model.multiplier": 8.0}, claims=(Saturated(within=(0.4, 1)),))),
)
