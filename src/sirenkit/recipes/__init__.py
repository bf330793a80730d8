"""Recipes: signal → problem → fit → representation → outputs, one function per kind of signal."""

from sirenkit.recipes.image import ImageFit, fit_image, render_image

__all__ = ["ImageFit", "fit_image", "render_image"]
