# Seed 004's double descent at home: polynomial regression of 50 noisy points of a sine by every degree up to 120,
# with Chebyshev features and the minimum-norm least-squares solution (numpy's lstsq). Nothing is trained: the run
# computes every fit and its errors in a second. More noise makes the peak at the interpolation threshold taller:
#   reportgen build experiments/double-descent.py --set noise=0.5
from reportgen import DoubleDescent

EXPERIMENT = DoubleDescent(
    name="double-descent",
    title="Double descent with polynomials",
    description="The test error falls with the degree, peaks where the polynomial first passes through all 50 points "
                "(degree 49), then falls again as the smallest-norm fit of ever more features grows smoother (here to "
                "a twentieth of its start near degree 70, not as low as the first minimum, slowly rising after).",
    tags=("double descent", "generalisation", "least squares"),
)
