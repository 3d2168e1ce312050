# The same small MLP trained by five optimizers (seed 003's update rules), each at a rate of its own: plain SGD,
# SGD with momentum, RMSprop, Adam and Lion (sign updates, so a rate ten times below Adam's). Any torch.optim class
# can be named, with its own keywords checked when the script loads, e.g. Optim(name="NAdam", lr=1e-3).
from reportgen import Experiment, Learns, MLP, Optim, Record, Runs, Sweep, Synthetic

OPTIMIZERS = (Optim(name="SGD", lr=0.1), Optim(name="SGD", lr=0.03, options={"momentum": 0.9}),
              Optim(name="RMSprop", lr=3e-4), Optim(name="Adam", lr=1e-3), Optim(name="Lion", lr=3e-4))
EXPERIMENT = Sweep(
    name="optimizers",
    title="One net, five optimizers",
    description="A 4-layer MLP on the synthetic set trained by SGD, momentum, RMSprop, Adam and Lion from the same "
                "start, each at a rate of its own: in eight epochs plain SGD's loss falls by a twentieth or more, "
                "each of the others' by two thirds or more.",
    tags=("optimizers", "sweep"),
    base=Experiment(name="base", model=MLP(depth=4, width=128), data=Synthetic(n_train=1024, n_test=256), epochs=8,
                    record=Record(every=4, snapshots=0, snapshot_every=8)),
    grid={"optimizer": OPTIMIZERS},
    claims=(Runs(where={"optimizer": OPTIMIZERS[0]}, claims=(Learns(below=0.95),)),  # 0.87 and 0.83 on seeds 2 and 0
            *(Runs(where={"optimizer": o}, claims=(Learns(below=1 / 3),)) for o in OPTIMIZERS[1:])),
)
