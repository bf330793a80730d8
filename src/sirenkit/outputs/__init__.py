"""Outputs: rendering fields on grids, writing files, metrics and figures."""

from sirenkit.outputs.figures import plot_curve
from sirenkit.outputs.files import write_json, write_png
from sirenkit.outputs.metrics import image_psnr, image_ssim, psnr_from_mse
from sirenkit.outputs.render import evaluate_grid

__all__ = ["evaluate_grid", "image_psnr", "image_ssim", "plot_curve", "psnr_from_mse", "write_json", "write_png"]
