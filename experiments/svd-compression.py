# Seed 004's truncated-SVD compression: by Eckart–Young the rank-r truncated SVD is the best rank-r approximation
# of a matrix, and it stores r(m + n + 1) numbers instead of m·n. Large simple shapes appear within a few ranks,
# fine detail (small text, the flag's stars) only much later. The image is Grace Hopper's portrait, shipped with
# matplotlib; any PNG/JPEG works: --set image='"photo.jpg"' (paths are relative to the project folder).
from reportgen import SVDCompression

EXPERIMENTS = [
    SVDCompression(
        name="svd-compression", title="Truncated-SVD compression of a grayscale image",
        description="The image as one matrix: its rank-r approximations, their error and their storage.",
        tags=("svd", "compression"), mode="gray"),
    SVDCompression(
        name="svd-compression-channels", title="Truncated-SVD compression, colour channel by channel",
        description="Red, green and blue compressed separately at the same rank: three times the storage of "
                    "one channel, and colour fringes where the channels' low-rank errors differ.",
        tags=("svd", "compression"), mode="channels"),
]
