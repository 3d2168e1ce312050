# Li et al. 2018's pictures of a small MLP: where its weights travel (the PCA plane of the trajectory, with
# the loss over it) and the loss around them along one random direction and over a plane, filter-normalised,
# around the initial weights, every epoch's and the final ones: the valley deepens and narrows as it trains.
# Finer: --set landscape.plane=31 --set landscape.line=81 --set landscape.samples=2048
from reportgen import Adam, Experiment, Landscape, MLP, ReLU, Synthetic

EXPERIMENT = Experiment(
    name="landscape-mlp",
    title="A small MLP: trajectory and loss landscape",
    description="Where the weights travel, and the loss around them at every epoch: watch the valley as it trains.",
    tags=("loss landscape", "trajectory", "mlp"),
    model=MLP(depth=4, width=64, activation=ReLU()),
    data=Synthetic(n_train=1024, n_test=256, shape=(3, 16, 16)),
    optimizer=Adam(lr=1e-3),
    epochs=8,
    batch_size=64,
    landscape=Landscape(line=41, plane=15, samples=256),
    figures=("trajectory_map", "loss_line", "loss_plane", "loss_plane(plane='pca')"),
)
