"""Pictures of what a model learned, and a self-contained HTML report of a run.

Every figure function takes numpy arrays or torch tensors, draws with matplotlib's Agg canvas
(no pyplot state), writes a PNG atomically and returns its `Path`.
"""

from hourglass.viz.figures import (
    image_grid,
    latent_grid,
    latent_scatter,
    point_cloud,
    reconstruction_grid,
    training_curves,
)
from hourglass.viz.report import write_report
from hourglass.viz.latent import (analogy_grid, class_grid, interpolate, interpolation_grid,
                                  latent_traversal, traversal_codes)

__all__ = [
    "image_grid",
    "reconstruction_grid",
    "training_curves",
    "latent_scatter",
    "latent_grid",
    "point_cloud",
    "write_report",
    "latent_traversal",
    "interpolation_grid",
    "class_grid",
    "analogy_grid",
    "traversal_codes",
    "interpolate",
]
