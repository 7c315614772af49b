"""Pictures of what a model learned, and a self-contained HTML report of a run.

Every figure function takes numpy arrays or torch tensors, draws with matplotlib's Agg canvas
(no pyplot state), writes a PNG atomically and returns its `Path`. By topic:

- :mod:`~hourglass.viz.images`: image grids, reconstructions, labelled grids;
- :mod:`~hourglass.viz.curves`: training curves;
- :mod:`~hourglass.viz.embedding`: codes in a plane (scatter, PCA);
- :mod:`~hourglass.viz.latent`: what the decoder draws over the latent space (the 2-D manifold,
  traversals, interpolations, class grids, analogies);
- :mod:`~hourglass.viz.points`: non-image data and its reconstruction;
- :mod:`~hourglass.viz.panels`: the figures of ``hourglass compare`` and ``hourglass detect``;
- :mod:`~hourglass.viz.report`: the HTML report of a run.
"""

from hourglass.viz.curves import group_terms, history_columns, training_curves
from hourglass.viz.embedding import latent_scatter, project_2d
from hourglass.viz.images import image_grid, interleave_rows, labelled_grid, reconstruction_grid, tile
from hourglass.viz.latent import (analogy_grid, class_grid, interpolate, interpolation_grid,
                                  latent_figures, latent_grid, latent_plane, latent_traversal,
                                  traversal_codes)
from hourglass.viz.points import point_cloud
from hourglass.viz.report import write_report

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
    "latent_figures",
    "tile",
    "interleave_rows",
    "labelled_grid",
    "project_2d",
    "latent_plane",
    "history_columns",
    "group_terms",
]
