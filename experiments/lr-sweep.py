# The tuning playbook's first question: which learning rate? A small CNN with Adam at rates a factor of
# ~3 apart: from 3e-2 on, the network dies in its first steps (its loss ends above where it started).
# The warmup sweep beside it (warmup-sweep.py) starts at that first bad rate. Were the best rate next to
# a bad one, the figure would warn that it sits at the edge of the unstable region.
# Full size: --set "base.data=CIFAR10(root='~/data')" --set base.epochs=30 --set base.batch_size=128
from reportgen import Adam, CNN, Experiment, Record, Sweep, Synthetic

EXPERIMENT = Sweep(
    name="lr-sweep",
    title="Learning-rate sweep",
    description="Adam on a small CNN at five learning rates: the best one, and what happens just above it.",
    tags=("tuning playbook", "learning rate", "sweep"),
    base=Experiment(name="base", model=CNN(channels=(16, 32), width=64),
                    data=Synthetic(n_train=2048, n_test=512, shape=(3, 16, 16)), optimizer=Adam(lr=1e-3),
                    epochs=3, batch_size=32, record=Record(every=8, snapshots=0), figures=("lr_schedule",)),
    grid={"optimizer.lr": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)},
    metric="test_accuracy",
    figures=("lr_sweep",),
)
