"""The defaults that follow the signal's size, each shown at several sizes.

    python benchmarks/size_rules.py [--parts image,audio,between] [--steps 300]

(1) image: `sirenkit fit image`'s defaults for --steps steps on the camera resized to 32² … 512²;
each step draws IMAGE_BATCH random pixels, or every pixel of an image with fewer
(`problems.domains.PointSet.sample`: drawing more than there are would only repeat them), so the
batch and the passes over the pixels follow the size, and the PSNR of the whole image at the end
shows what a fixed step budget buys at each size.
(2) audio: the first-layer ω0 rule (`signals.audio.first_layer_omega0`: the official 3000 up to
the paper's 7 s clip, and past it 858 rad/s × the seconds one unit of the time axis lasts, so the
first layer's band stays the paper clip's in Hz; at most a fifth of the Nyquist rate), the band-in-Hz rule at every length, and the
official constant ω0 = 3000, on excerpts of the paper's Bach clip of several lengths and the whole
12 s counting clip, `sirenkit fit audio`'s other defaults, --steps steps; SNR over the whole clip
(samples in [-1, 1]).
(3) between: the same rule and the constant on a clip's even samples only (a 0.1 s Bach excerpt
at half its rate), scored on the samples fitted and on the odd samples it never saw, which
shows whether a first layer near the clip's Nyquist rate represents the sound or only its samples.
Each fit runs in this process, one after another.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from machine import describe_machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGE_SIDES = (32, 64, 128, 256, 512)
CLIP_SECONDS = (0.05, 0.25, 1.0, 3.0, 7.0)
OFFICIAL_AUDIO_OMEGA0 = 3000.0


def image_table(steps: int) -> None:
    """The image defaults at several sizes: batch drawn, passes over the pixels, PSNR at the end."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from sirenkit.recipes.image import IMAGE_BATCH, IMAGE_FIT, fit_image
    from sirenkit.signals import image_from_array

    print(
        f"\nimage: `sirenkit fit image` defaults for {steps} steps (camera resized): {IMAGE_BATCH} random pixels "
        "per step, every pixel of an image with fewer"
    )
    print(f"  {'size':>9s} {'pixels':>7s} {'batch':>6s} {'passes':>7s} {'s/step':>7s} {'PSNR (dB)':>9s}")
    config = replace(IMAGE_FIT, steps=steps, checkpoint_every=0, retain_memory=True)
    for side in IMAGE_SIDES:
        pixels = np.asarray(Image.fromarray(skimage.data.camera()).resize((side, side), Image.BILINEAR))
        outcome = fit_image(image_from_array(pixels), fit_config=config, quiet=True)
        batch = min(IMAGE_BATCH, side * side)
        print(
            f"  {side:4d}x{side:<4d} {side * side:7d} {batch:6d} {steps * batch / side**2:7.0f} "
            f"{outcome.result.seconds / outcome.result.steps:7.4f} {outcome.psnr:9.2f}"
        )


def audio_table(steps: int) -> None:
    """The first-layer ω0 rule, the band-in-Hz rule and the official constant on clips of several lengths."""
    from sirenkit.recipes.audio import AUDIO_FIT, fit_audio
    from sirenkit.signals import load_audio
    from sirenkit.signals.audio import OMEGA0_PER_SECOND, first_layer_omega0

    bach = load_audio(SHARED / "audio" / "gt_bach.wav")
    clips = [(f"bach {seconds:g} s", bach.excerpt(1.0, seconds)) for seconds in CLIP_SECONDS]
    clips.append(("counting 12.2 s", load_audio(SHARED / "audio" / "gt_counting.wav")))
    config = replace(AUDIO_FIT, steps=steps, checkpoint_every=0, retain_memory=True)
    print(
        f"\naudio: SNR (dB) by first-layer ω0: the rule (3000, or 858 rad/s x seconds per unit of time past 7 s; "
        "at most 0.2 pi per sample), "
        f"the band in Hz at every length, the official {OFFICIAL_AUDIO_OMEGA0:g}; "
        f"`sirenkit fit audio` defaults, {steps} steps"
    )
    print(f"  {'clip':>16s} {'samples':>8s} | {'rule ω0':>8s} {'SNR':>6s} | {'Hz ω0':>6s} {'SNR':>6s} | {'3000':>6s}")
    for name, clip in clips:
        rule_omega0 = first_layer_omega0(clip.frames, clip.rate)
        band_omega0 = OMEGA0_PER_SECOND * (clip.frames - 1) / (2 * clip.rate)
        snr = {
            omega0: fit_audio(clip, fit_config=config, omega0=omega0, quiet=True).snr_db
            for omega0 in dict.fromkeys([rule_omega0, band_omega0, OFFICIAL_AUDIO_OMEGA0])
        }
        print(
            f"  {name:>16s} {clip.frames:8d} | {rule_omega0:8.0f} {snr[rule_omega0]:6.2f} | "
            f"{band_omega0:6.0f} {snr[band_omega0]:6.2f} | {snr[OFFICIAL_AUDIO_OMEGA0]:6.2f}"
        )


def between_table(steps: int) -> None:
    """The rule and the constant fitted to even samples, scored on the odd samples they never saw."""
    from sirenkit.outputs.audio import snr_db
    from sirenkit.recipes.audio import AUDIO_FIT, fit_audio, render_audio
    from sirenkit.signals import audio_from_array, load_audio

    clip = load_audio(SHARED / "audio" / "gt_bach.wav").excerpt(1.0, 0.1)
    even = audio_from_array(clip.samples[::2], clip.rate // 2)
    config = replace(AUDIO_FIT, steps=steps, checkpoint_every=0, retain_memory=True)
    print(
        f"\nbetween the samples: Bach 0.1 s, fitted to its {even.frames} even samples at {even.rate} Hz, "
        f"{steps} steps; SNR (dB) on those and on the odd samples, rendered at {clip.rate} Hz"
    )
    print(f"  {'ω0':>16s} | {'fitted':>7s} | {'unseen':>7s}")
    for name, omega0 in (("rule", None), ("official", OFFICIAL_AUDIO_OMEGA0)):
        outcome = fit_audio(even, fit_config=config, omega0=omega0, quiet=True)
        dense, _ = render_audio(outcome.result.representation, rate=clip.rate)
        odd = slice(1, min(len(dense), clip.frames), 2)
        used = outcome.result.representation.config.omega0
        print(f"  {name:>9s} {used:6.0f} | {outcome.snr_db:7.2f} | {snr_db(clip.samples[odd], dense[odd]):7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", default="image,audio,between", help="comma-separated: image, audio, between (default: all)"
    )
    parser.add_argument("--steps", type=int, default=300, help="steps of every fit (default: 300)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= {"image", "audio", "between"}:
        parser.error(f"unknown part in --parts {args.parts}")
    print(describe_machine())
    if "image" in parts:
        image_table(args.steps)
    if "audio" in parts:
        audio_table(args.steps)
    if "between" in parts:
        between_table(args.steps)


if __name__ == "__main__":
    main()
