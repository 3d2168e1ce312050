# Li et al. 2018, Fig. 5: the filter-normalised loss plane around a trained ResNet is convex-looking with its skip
# connections and chaotic without them, the more so the deeper the net (clearly from 56 layers). Here, to train in
# seconds, a 20-layer ResNet (three stages of three basic blocks, 8-16-32 channels, batch norm) on 8x8 synthetic
# images, with and without its shortcuts: at this depth both planes are still one basin (as in the paper's ResNet-20),
# and the net without skips learns more slowly. The paper's ResNet-56 on CIFAR-10 (in ~/data/cifar-10-batches-py):
#   reportgen run experiments/landscape-resnet.py --set "data=CIFAR10(root='~/data')" --set "model.channels=(16, 32, 64)"
#   --set model.blocks=9 --set landscape.plane=51
from reportgen import Adam, Experiment, Landscape, Learns, Record, ResNet, Synthetic

BASE = dict(
    tags=("loss landscape", "skip connections", "resnet"),
    data=Synthetic(n_train=1024, n_test=256, shape=(1, 8, 8), noise=0.5),
    optimizer=Adam(lr=3e-3),
    epochs=6,
    batch_size=64,
    record=Record(snapshots=0),
    landscape=Landscape(line=0, plane=17, samples=128, around="final", pca_plane=False),
    figures=("loss_plane",),
    claims=(Learns(),),
)
EXPERIMENTS = [
    Experiment(name="resnet20", title="ResNet-20 with skip connections",
               description="The loss over a random filter-normalised plane around the trained weights of a 20-layer "
                           "ResNet (Li et al. 2018, Fig. 5, left).",
               model=ResNet(channels=(8, 16, 32), blocks=3), **BASE),
    Experiment(name="resnet20-noshort", title="ResNet-20 without skip connections",
               description="The same net with its shortcuts removed, trained and drawn the same way (Li et al. 2018, "
                           "Fig. 5, right). At 20 layers both planes are one basin, as in the paper; its chaotic "
                           "plane needs 56 layers (the script's --set line).",
               model=ResNet(channels=(8, 16, 32), blocks=3, skip=False), **BASE),
]
