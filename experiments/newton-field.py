# Seed 004's "treacherous Newton's method": it fits a quadratic to the function at every point and jumps to that
# model's stationary point, a maximum or a saddle wherever the function curves down, while gradient descent
# always heads downhill. Himmelblau's function has all three: four minima, four saddles and a hilltop.
from reportgen import NewtonField

EXPERIMENT = NewtonField(
    name="newton-field",
    title="Newton's method heads for maxima and saddles too",
    description="Himmelblau's function: gradient descent's direction field against Newton's, with particles "
                "following each from a grid of starts.",
    tags=("optimizers", "2-d", "newton"),
    function="himmelblau",
)
