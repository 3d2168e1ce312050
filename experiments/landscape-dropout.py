# The fmin.xyz demo: a small CNN trained with and without dropout, and the loss around its initial and final
# weights along a random line and over a random plane (filter-normalised, Li et al. 2018), evaluated in eval
# mode (dropout off). Here on the synthetic set; FashionMNIST (files in ~/data/FashionMNIST/raw) is one switch:
#   reportgen run experiments/landscape-dropout.py --set "data=FashionMNIST(root='~/data', limit=10000)"
from reportgen import Adam, CNN, Experiment, Landscape, Synthetic

BASE = dict(
    tags=("loss landscape", "dropout", "cnn"),
    data=Synthetic(n_train=1024, n_test=256, shape=(1, 16, 16), noise=0.5),
    optimizer=Adam(lr=3e-3),
    epochs=10,
    batch_size=64,
    landscape=Landscape(line=41, plane=15, samples=128, around="ends"),
    figures=("loss_line", "loss_plane"),
)
EXPERIMENTS = [
    Experiment(name="cnn-no-dropout", title="CNN without dropout", model=CNN(channels=(8, 16), width=64),
               description="The loss around a small CNN's initial and final weights, trained without dropout.", **BASE),
    Experiment(name="cnn-dropout", title="CNN with dropout 0.5", model=CNN(channels=(8, 16), width=64, dropout=0.5),
               description="The same CNN with dropout 0.5 before its hidden layer: compare the valleys.", **BASE),
]
