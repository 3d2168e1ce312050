# The tuning playbook's warmup procedure: take a learning rate just above the largest that trains (3e-2
# in lr-sweep.py), ramp up to it linearly over 1, 10 or 100 steps, and keep the shortest warmup that trains.
# Full size: --set "base.data=CIFAR10(root='~/data')" --set base.epochs=30 and warmups up to 10000 steps
from reportgen import Adam, CNN, Experiment, Record, Sweep, Synthetic, Warmup

EXPERIMENT = Sweep(
    name="warmup-sweep",
    title="Warmup sweep",
    description="Adam at 3e-2, too high to start with: linear warmups over orders of magnitude of steps.",
    tags=("tuning playbook", "warmup", "sweep"),
    base=Experiment(name="base", model=CNN(channels=(16, 32), width=64),
                    data=Synthetic(n_train=2048, n_test=512, shape=(3, 16, 16)), optimizer=Adam(lr=3e-2),
                    schedule=Warmup(steps=1), epochs=3, batch_size=32, record=Record(every=8, snapshots=0),
                    figures=("grad_norm", "lr_schedule")),
    grid={"schedule.steps": (1, 10, 100)},
    metric="test_accuracy",
    figures=("warmup_sweep",),
)
