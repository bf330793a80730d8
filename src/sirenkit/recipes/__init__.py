"""Recipes: signal → problem → fit → representation → outputs, one module per kind of signal."""

from sirenkit.recipes.audio import AudioFit, fit_audio, render_audio
from sirenkit.recipes.derivative_maps import compare_models, data_derivatives, field_derivatives
from sirenkit.recipes.image import ImageFit, fit_image, render_image
from sirenkit.recipes.pde import Solved, load_solution, make_pde, solve
from sirenkit.recipes.video import VideoFit, fit_video, render_video

__all__ = [
    "AudioFit",
    "ImageFit",
    "Solved",
    "VideoFit",
    "compare_models",
    "data_derivatives",
    "field_derivatives",
    "load_solution",
    "make_pde",
    "fit_audio",
    "fit_image",
    "fit_video",
    "render_audio",
    "render_image",
    "render_video",
    "solve",
]
