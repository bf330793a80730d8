"""Recipes: signal → problem → fit → representation → outputs, one module per kind of signal."""

from sirenkit.recipes.audio import AudioFit, fit_audio, render_audio
from sirenkit.recipes.derivative_maps import compare_models, data_derivatives, field_derivatives
from sirenkit.recipes.image import ImageFit, fit_image, render_image
from sirenkit.recipes.video import VideoFit, fit_video, render_video

__all__ = [
    "AudioFit",
    "ImageFit",
    "VideoFit",
    "compare_models",
    "data_derivatives",
    "field_derivatives",
    "fit_audio",
    "fit_image",
    "fit_video",
    "render_audio",
    "render_image",
    "render_video",
]
