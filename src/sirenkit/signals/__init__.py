"""Reading real data into normalized tensors on a coordinate domain."""

from sirenkit.signals.audio import Audio, audio_from_array, first_layer_omega0, load_audio
from sirenkit.signals.finite_differences import discrete_laplacian, integrate_gradient, sobel_gradient, solve_poisson
from sirenkit.signals.grid import axis_extents, grid_coordinates, grid_spacing
from sirenkit.signals.image import Image, image_from_array, load_image, to_signed, to_unit
from sirenkit.signals.video import Video, load_video

__all__ = [
    "Audio",
    "Image",
    "Video",
    "audio_from_array",
    "axis_extents",
    "discrete_laplacian",
    "first_layer_omega0",
    "grid_coordinates",
    "grid_spacing",
    "image_from_array",
    "integrate_gradient",
    "load_audio",
    "load_image",
    "load_video",
    "sobel_gradient",
    "solve_poisson",
    "to_signed",
    "to_unit",
]
