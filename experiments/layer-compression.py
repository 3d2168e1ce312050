# Seed 004's truncated SVD applied to a trained network instead of an image: every weight matrix replaced by its
# best rank-r approximation. A 10-class problem needs only about ten directions per layer; beyond them the
# singular values carry little the test set can tell. The run trains the MLP first (its run directory has
# everything a training run has, so its weight spectra are drawn too), then truncates.
from reportgen import Adam, Experiment, LayerCompression, LeakyReLU, MLP

EXPERIMENT = LayerCompression(
    name="layer-compression",
    title="A trained MLP compressed layer by layer with truncated SVD",
    description="Test accuracy against the rank each weight matrix is cut to, one layer at a time and all at once.",
    tags=("svd", "compression", "mlp"),
    figures=("layer_compression", "weight_spectrum"),
    experiment=Experiment(name="mlp4", model=MLP(depth=4, width=64, activation=LeakyReLU()),
                          optimizer=Adam(lr=(1e-3, 1e-4)), epochs=6),
)
