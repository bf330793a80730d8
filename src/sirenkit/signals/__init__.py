"""Reading real data into normalized tensors on a coordinate domain."""

from sirenkit.signals.derivatives import discrete_laplacian, sobel_gradient
from sirenkit.signals.grid import axis_extents, grid_coordinates, grid_spacing
from sirenkit.signals.image import Image, image_from_array, load_image, to_signed, to_unit

__all__ = [
    "Image",
    "axis_extents",
    "discrete_laplacian",
    "grid_coordinates",
    "grid_spacing",
    "image_from_array",
    "load_image",
    "sobel_gradient",
    "to_signed",
    "to_unit",
]
