# Optimizers racing over 2-D test functions from one start (seed 003's "50 shades of gradient descent", seed 004's
# rolling points): torch.optim's own SGD, momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW, NAdam, plus Lion and
# Muon (reportgen/compute/optim.py). A learning rate good on one surface is poor or explosive on another, so each race
# names its own: each is roughly the largest of 1e-4, 3e-4, ..., 1 that neither diverges nor oscillates wildly
# there. For a longer race on a slide: reportgen build experiments/optimizer-races.py --set steps=1000
from reportgen import OptimizerRace, Racer


def racers(sgd, momentum, adagrad, rmsprop, adam, lion, muon):
    """The ten racers with these learning rates (Nesterov and AdamW share momentum's and Adam's)."""
    return {
        "SGD": Racer(optimizer="SGD", lr=sgd),
        "Momentum": Racer(optimizer="SGD", lr=momentum, options={"momentum": 0.9}),
        "Nesterov": Racer(optimizer="SGD", lr=momentum, options={"momentum": 0.9, "nesterov": True}),
        "Adagrad": Racer(optimizer="Adagrad", lr=adagrad),
        "RMSprop": Racer(optimizer="RMSprop", lr=rmsprop),
        "Adam": Racer(optimizer="Adam", lr=adam),
        "AdamW": Racer(optimizer="AdamW", lr=adam, options={"weight_decay": 0.01}),
        "NAdam": Racer(optimizer="NAdam", lr=adam),
        "Lion": Racer(optimizer="Lion", lr=lion),
        "Muon": Racer(optimizer="Muon", lr=muon),
    }


EXPERIMENTS = [
    OptimizerRace(
        name="race-rosenbrock", title="Rosenbrock's banana: a long curved valley",
        description="Finding the valley is easy, following it to (1, 1) is slow; momentum helps the most.",
        tags=("optimizers", "2-d"), function="rosenbrock", steps=500,
        racers=racers(sgd=2e-3, momentum=1e-3, adagrad=0.3, rmsprop=0.03, adam=0.1, lion=0.01, muon=0.03)),
    OptimizerRace(
        name="race-beale", title="Beale's function: flat plateaus, steep walls",
        description="Gradients differ by orders of magnitude across the map: the adaptive methods cope best.",
        tags=("optimizers", "2-d"), function="beale",
        racers=racers(sgd=0.03, momentum=3e-3, adagrad=0.3, rmsprop=0.01, adam=0.1, lion=0.03, muon=0.03)),
    OptimizerRace(
        name="race-himmelblau", title="Himmelblau's function: four minima",
        description="Starting beside the hilltop at (−0.27, −0.92): the gradient methods roll down its steepest "
                    "side to one minimum; the adaptive ones, which follow the gradient's signs more than its "
                    "size, settle in another.",
        tags=("optimizers", "2-d"), function="himmelblau", start=(-0.27, -0.92),
        racers=racers(sgd=1e-3, momentum=1e-3, adagrad=0.3, rmsprop=0.03, adam=0.03, lion=0.03, muon=0.03)),
    OptimizerRace(
        name="race-ravine", title="An ill-conditioned quadratic (condition number 20)",
        description="Plain SGD zig-zags across the ravine at a step near its stability limit 2/20, yet on a "
                    "quadratic a constant step fitted to the curvature is hard to beat. Lion and Muon take steps "
                    "of a fixed length, so they end up circling the minimum at a distance set by their rate.",
        tags=("optimizers", "2-d"), function="ravine",
        racers=racers(sgd=0.09, momentum=3e-3, adagrad=0.3, rmsprop=0.03, adam=0.1, lion=0.03, muon=0.03)),
    OptimizerRace(
        name="race-saddle", title="A saddle: f = x² − y²",
        description="Starting a hair off the ridge, gradient descent lingers at the saddle point; the adaptive "
                    "methods divide the tiny y-gradient by its own size and escape at once.",
        tags=("optimizers", "2-d"), function="saddle", steps=200,
        racers=racers(sgd=0.01, momentum=1e-3, adagrad=0.03, rmsprop=0.01, adam=0.01, lion=0.01, muon=0.03)),
    OptimizerRace(
        name="race-noisy", title="Noisy gradients: SGD with a constant step never settles",
        description="Gaussian noise (σ = 1) on every gradient: a constant step keeps SGD jittering around the "
                    "minimum, a smaller one settles closer but arrives later; every racer sees the same noise.",
        tags=("optimizers", "2-d", "sgd"), function="ravine", noise=1.0, steps=1000,
        racers={"SGD, lr 0.05": Racer(optimizer="SGD", lr=0.05),
                "SGD, lr 0.005": Racer(optimizer="SGD", lr=0.005),
                "Adam, lr 0.05": Racer(optimizer="Adam", lr=0.05)}),
]
