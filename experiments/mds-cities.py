# Seed 004's multidimensional scaling: Europe's cities of over a million people placed on a plane from their
# pairwise great-circle distances alone, by gradient descent (torch autograd) and by Nelder–Mead (scipy), each
# allowed the same number of evaluations of the stress. With 6 cities (12 unknowns) both find the map; with 34
# (68 unknowns) the gradient-free method is left far behind: the gap grows with the dimension.
from reportgen import CityMDS

EXPERIMENTS = [
    CityMDS(name=f"mds-{n}-cities", title=f"MDS of Europe's {n} largest cities", tags=("optimizers", "mds"),
            description=f"The {n} most populous European cities, gradient descent against Nelder–Mead.", cities=n)
    for n in (6, 15, 34)
]
