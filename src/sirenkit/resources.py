"""Memory checks before work: a request whose memory can be computed up front is compared with
the memory available, and one that cannot fit is refused (InputError: one line, exit 2) before
anything is trained, decoded or allocated, saying the estimate, what is available and the
option that lowers it.

Estimates are upper-end rules read from the code that does the work, in bytes; each function's
docstring states its rule. Only what is held whole counts: the bounded-memory paths (chunked
rendering, coarse-to-fine meshing, frame-by-frame video) hold a fixed working set whatever the
size, and that is what makes large requests legal. Available memory is read when asked
(`available_memory`): on a CPU what the kernel and the process's cgroup would still grant, on
CUDA what the device has free.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from sirenkit.errors import InputError

if TYPE_CHECKING:
    from sirenkit.fields import FieldConfig

FLOAT32 = 4
"""Bytes per float32 value."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 1 << 60
"""A cgroup limit at or above this many bytes means no limit (cgroup v1 writes 2^63 rounded to a page)."""


# ---- available memory ------------------------------------------------------------------------


def available_memory(device: torch.device | str = "cpu") -> int:
    """Bytes a new allocation can still get on `device`.

    CUDA: the device's free memory (`torch.cuda.mem_get_info`) plus what PyTorch's caching
    allocator holds reserved but unused. Any other device is the host's memory: the smallest of
    /proc/meminfo's MemAvailable and, for every cgroup (v2 or v1) above this process that sets a
    memory limit, that limit less the cgroup's usage (reclaimable inactive page cache not
    counted as used); without either, the physical memory (os.sysconf).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    bounds = [bound for bound in (_meminfo_available(), *_cgroup_headrooms()) if bound is not None]
    return max(0, min(bounds)) if bounds else os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _meminfo_available() -> int | None:
    """/proc/meminfo's MemAvailable in bytes, or None where there is none (not Linux)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_headrooms() -> list[int]:
    """Limit − usage of every cgroup of this process that sets a memory limit, up to the mount's root."""
    try:
        entries = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    headrooms = []
    for entry in entries:
        _, controllers, path = entry.split(":", 2)
        if controllers == "":  # cgroup v2
            files = (CGROUP_ROOT, "memory.max", "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            files = (CGROUP_ROOT / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        root, limit_name, usage_name = files
        folder = root / path.lstrip("/")
        for level in [folder, *folder.parents]:
            headroom = cgroup_headroom(level, limit_name, usage_name)
            if headroom is not None:
                headrooms.append(headroom)
            if level == root:
                break
    return headrooms


def cgroup_headroom(folder: Path, limit_name: str, usage_name: str) -> int | None:
    """limit − (usage − inactive_file) of one cgroup folder in bytes; None without a limit or files.

    Inactive file cache is counted as free, as the kernel reclaims it before the limit is hit.
    """
    try:
        limit_text = (folder / limit_name).read_text().strip()
        usage = int((folder / usage_name).read_text())
    except (OSError, ValueError):
        return None
    if limit_text == "max" or int(limit_text) >= UNLIMITED:
        return None
    inactive = 0
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("inactive_file", "total_inactive_file"):
                inactive = max(inactive, int(value))
    except (OSError, ValueError):
        pass
    return int(limit_text) - max(usage - inactive, 0)


# ---- requests and the check ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """Memory a piece of work needs: `bytes` on `device`, what is asked, and the option that lowers it."""

    bytes: int
    what: str
    option: str
    device: str = "cpu"


def format_bytes(count: float) -> str:
    """Bytes in binary units with three significant digits: 512 B, 1.5 KiB, 21.3 GiB, 3.55 EiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024:
            return f"{count:.3g} {unit}"
        count /= 1024
    return f"{count:.3g} EiB"


def require(*requests: Request) -> None:
    """InputError for the first request that needs more than its device has available.

    The message names the estimate, the memory available and the option that lowers it.
    """
    available: dict[str, int] = {}
    for request in requests:
        if request.device not in available:
            available[request.device] = available_memory(request.device)
        free = available[request.device]
        if request.bytes > free:
            where = "" if request.device == "cpu" else f" on {request.device}"
            raise InputError(
                f"{request.what} needs about {format_bytes(request.bytes)} of memory, but "
                f"{format_bytes(free)} is available{where}; lower {request.option}"
            )


# ---- rendering and writing -------------------------------------------------------------------

IMAGE_RENDER_VALUE_BYTES = 3 * FLOAT32
"""Per value (pixel × channel) of a rendered image: the float32 render and the two float32
temporaries of its conversion from [-1, 1] to [0, 1]. Writing it holds less: the [0, 1] values,
the integer copy and the encoder's copy of it (1 byte each, 2 at 16 bits), and a bounded block
of rows being rounded (`outputs.files`)."""

FRAME_VALUE_BYTES = 3 * FLOAT32
"""Per value of one rendered video frame: its float32 values and two float32 temporaries, while
converted to [0, 1] and then to 8 bits."""
FRAME_PIXEL_BYTES = 3 * 3
"""Per pixel of one rendered video frame: three RGB uint8 copies (the 8-bit frame, its even-sided
copy and the encoder's picture)."""

AUDIO_SAMPLE_BYTES = 2 * FLOAT32
"""Per sample (frame × channel) of rendered audio: the float32 render and the writer's clipped
float32 copy (libsndfile converts to 16 bits in blocks)."""


def image_render_request(height: int, width: int, channels: int, option: str = "--size") -> Request:
    """Rendering an image and writing it: height × width × channels × IMAGE_RENDER_VALUE_BYTES.

    The field is evaluated in bounded chunks (`outputs.render`); only the picture is held whole.
    """
    return Request(height * width * channels * IMAGE_RENDER_VALUE_BYTES, f"rendering a {width}x{height} image", option)


def frame_render_request(height: int, width: int, channels: int, option: str = "--size") -> Request:
    """Rendering a video and encoding it, one frame at a time:
    height × width × (channels × FRAME_VALUE_BYTES + FRAME_PIXEL_BYTES), whatever the frame count."""
    pixels = height * width
    return Request(
        pixels * (channels * FRAME_VALUE_BYTES + FRAME_PIXEL_BYTES), f"rendering {width}x{height} video frames", option
    )


def audio_render_request(frames: int, channels: int, option: str = "--rate") -> Request:
    """Rendering audio and writing it: frames × channels × AUDIO_SAMPLE_BYTES."""
    return Request(
        frames * channels * AUDIO_SAMPLE_BYTES, f"rendering {frames:,} samples × {channels} channel(s)", option
    )


# ---- meshes and previews ---------------------------------------------------------------------

FACES_PER_CELL_AREA = 3.0
"""Marching-cubes triangles per unit of surface area measured in grid cells (area / h²): a
surface crosses on average 1.5 cells per such unit (the mean of |n_x| + |n_y| + |n_z| over
directions) and marching cubes cuts about 2 triangles from each cell it crosses."""

FACE_BYTES = 12 * 36
"""Per triangle of a mesh while it is extracted and written: its own arrays take 36 bytes (int64
faces, 24 bytes, and float64 vertices, 24 bytes per vertex with about half a vertex per face), and
meshing and writing hold up to 12 such copies at once (the bricks' pieces and their
concatenation, the weld's keys and np.unique outputs, the source-unit copy, the exporter's arrays
and, for OBJ, its text)."""

SAMPLE_BYTES = 100
"""Per grid sample evaluated by the coarse-to-fine descent while it is held: int64 indices
(24 bytes), their key (8) and np.unique's sorted keys, first indices and inverse (24), the
unique indices (24), float32 coordinates (12) and values (8)."""


def surface_area() -> float:
    """Area assumed for a shape's zero level set, in normalized units: the sphere inscribed in the
    box that `Normalization.fitting` maps a shape's bounding box into (4π·0.9²); a shape no more
    wrinkled than a ball that fills its box stays below it."""
    from sirenkit.signals.points import NORMALIZED_HALF_EXTENT

    return 4 * math.pi * NORMALIZED_HALF_EXTENT**2


def mesh_faces(resolution: int) -> int:
    """Triangles of a mesh at `resolution`³: FACES_PER_CELL_AREA × surface_area() / h², h = 2/(resolution − 1)."""
    from sirenkit.outputs.mesh import grid_step

    return math.ceil(FACES_PER_CELL_AREA * surface_area() / grid_step(max(resolution, 2)) ** 2)


def mesh_request(resolution: int, method: str = "coarse-to-fine", option: str = "--resolution") -> Request:
    """Extracting and writing a mesh at `resolution`³ samples over [-1, 1]³.

    Rule: mesh_faces(resolution) × FACE_BYTES for the mesh (it grows with the surface: ~N²), plus
    dense: the float32 volume, 4·N³ bytes; coarse-to-fine: SAMPLE_BYTES per sample held, which
    are the bricks' corners (8 per brick of BRICK_CELLS cells per side) and, at most, one group of
    BRICKS_PER_GROUP bricks sampled fully at DEFAULT_BLOCK (see `outputs.mesh`).
    """
    from sirenkit.outputs.mesh import BRICK_CELLS, BRICKS_PER_GROUP, DEFAULT_BLOCK

    mesh = mesh_faces(resolution) * FACE_BYTES
    if method == "dense":
        return Request(
            FLOAT32 * resolution**3 + mesh,
            f"meshing at {resolution}³ (dense)",
            f"{option} or use --method coarse-to-fine",
        )
    bricks = math.ceil((resolution - 1) / BRICK_CELLS) ** 3
    group = BRICKS_PER_GROUP * (BRICK_CELLS // DEFAULT_BLOCK) ** 3 * (DEFAULT_BLOCK + 1) ** 3
    return Request(SAMPLE_BYTES * (8 * bricks + group) + mesh, f"meshing at {resolution}³ (coarse-to-fine)", option)


RAY_BYTES = 160
"""Per pixel of one preview view while it is traced: about forty 4- and 8-byte numbers per ray
(direction, entry and exit distances, march distance, masks, indices, the current point and its
temporaries, the hit point, normal and colour)."""
PREVIEW_VALUE_BYTES = 2 * FLOAT32
"""Per value (pixel × RGB channel) of the finished preview: the float32 views and their
side-by-side copy (writing then holds that copy, its 8-bit copy and the encoder's)."""


def preview_request(size: int, views: int = 4, option: str = "--size") -> Request:
    """A preview of `views` square views of `size` pixels: size² × RAY_BYTES for the view being
    traced plus views × size² × 3 × PREVIEW_VALUE_BYTES for the picture."""
    pixels = size * size
    return Request(
        pixels * RAY_BYTES + views * pixels * 3 * PREVIEW_VALUE_BYTES, f"a preview of {size}x{size} views", option
    )


# ---- training --------------------------------------------------------------------------------

PARAMETER_BYTES = 5 * FLOAT32
"""Per trained parameter: the weight, its gradient, Adam's two moments and one temporary of the update."""
LBFGS_PARAMETER_VALUES = 8
"""Per trained parameter under L-BFGS, besides its curvature pairs: the weight, its gradient, their
flat copies, the direction, the previous gradient and the rollback snapshot's weight."""


def encoding_width(config: FieldConfig) -> int:
    """Features the first layer reads (`fields.encodings`): d coordinates (siren, relu, tanh),
    d·(2L + 1) for relu-pe (x and the sine and cosine of L octaves), 2·ff_features for ff."""
    if config.model == "relu-pe":
        return config.in_dim * (2 * (config.pe_octaves or 1) + 1)
    if config.model == "ff":
        return 2 * config.ff_features
    return config.in_dim


def parameter_count(config: FieldConfig) -> int:
    """Weights and biases: (e + 1)·W for the first layer, depth·(W + 1)·W hidden, (W + 1)·c for the head."""
    width = config.width
    return (encoding_width(config) + 1) * width + config.depth * (width + 1) * width + (width + 1) * config.out_dim


def jet_rows(config: FieldConfig, order: int) -> int:
    """Rows carried per point by the derivative path: 1 for values; 1 + d (value and gradient),
    + 1 for the Laplacian, on the forward path (`calculus`)."""
    return 1 if order == 0 else 1 + config.in_dim + (order == 2)


def activation_arrays(config: FieldConfig, order: int, second: bool = False) -> int:
    """(points, width) float32 arrays alive at a training step's peak, by derivative path (`calculus`):

    - values only (order 0), plain autograd: per activated layer (depth + 1 of them) the sine's
      pre-activation and output are kept for the backward pass (ReLU and tanh keep only their
      output), plus 2 gradient arrays in flight during the backward pass;
    - the forward jet (order 2, or order 1 with several outputs): the fused kernel keeps the
      pre-activation stack (`jet_rows` rows) of every activated layer after the first, plus 2 for
      the chunk's temporaries and the gradient in flight;
    - the gradient of one output by autograd (order 1, one output): per activated layer 5 arrays
      (the forward pass's 2, and the incoming gradient, cos(z) and their product kept by
      create_graph for the second backward pass), plus 4 in flight during the double backward;
    - the unmixed second derivatives by autograd (`second`, order 2: what a time-dependent PDE
      reads), c outputs and d axes: per activated layer 8 arrays for the value's graph and the
      passes in flight, 12 per output for its gradient's graph, and 6 per output and axis for each
      second derivative's graph (all kept by create_graph until the final backward pass).
    """
    from sirenkit.calculus import forward_pays

    layers = config.depth + 1
    if second:
        return (8 + 12 * config.out_dim + 6 * config.out_dim * config.in_dim) * layers
    if order == 0:
        return (2 if config.model == "siren" else 1) * layers + 2
    if forward_pays(order, config.out_dim):
        return jet_rows(config, order) * config.depth + 2
    return 5 * layers + 4


def training_bytes(config: FieldConfig, groups: Iterable[tuple[int, int, bool]], *, lbfgs: bool = False) -> int:
    """One training step whose points come in `groups`, each (points, derivative order, whether the
    unmixed second derivatives are taken): each group is evaluated apart and all are alive at the
    backward pass.

    Rule: per parameter PARAMETER_BYTES, or with `lbfgs` 4 bytes × (LBFGS_PARAMETER_VALUES + twice
    the 2 × LBFGS_HISTORY values of its curvature pairs: the optimizer's and the rollback
    snapshot's), the larger, × parameter_count; plus for each group 4 bytes × points × (width ×
    activation_arrays + 2 × jet_rows × encoding_width (the encoding's features and their
    temporaries)). Activations are counted in float32; under bf16 autocast the hidden ones take
    half, so there it is an upper bound.
    """
    from sirenkit.fit import LBFGS_HISTORY

    per_parameter = (
        max(PARAMETER_BYTES, FLOAT32 * (LBFGS_PARAMETER_VALUES + 4 * LBFGS_HISTORY)) if lbfgs else PARAMETER_BYTES
    )
    needed = per_parameter * parameter_count(config)
    for points, order, second in groups:
        per_point = config.width * activation_arrays(config, order, second)
        needed += FLOAT32 * points * (per_point + 2 * jet_rows(config, order) * encoding_width(config))
    return needed


def training_request(
    config: FieldConfig, points: int, *, order: int = 0, data_bytes: int = 0, device: torch.device | str = "cpu"
) -> Request:
    """One training step on `points` points with derivatives up to `order`, on `device`:
    `training_bytes` of that one group (under Adam) + data_bytes (the signal's tensors the recipe
    puts on the device)."""
    needed = training_bytes(config, [(points, order, False)]) + data_bytes
    what = f"training a {config.model} of width {config.width} and depth {config.depth} on {points:,} points per step"
    return Request(needed, what, "--batch (points per step), --width or --depth", str(torch.device(device)))


def evaluation_request(
    config: FieldConfig, points: int, what: str, option: str, device: torch.device | str = "cpu"
) -> Request:
    """Evaluating the field's values without a graph on `points` points at once, on `device`:
    4 bytes × points × (3 × width + encoding_width) (a layer's input, pre-activation and output,
    and the encoded coordinates)."""
    needed = FLOAT32 * points * (3 * config.width + encoding_width(config))
    return Request(needed, what, option, str(torch.device(device)))


def check_fit(
    config: FieldConfig,
    points: int,
    *,
    order: int = 0,
    data_bytes: int = 0,
    outputs: Iterable[Request] = (),
    device: torch.device | str = "cpu",
) -> None:
    """Refuse a fit before it starts when its training step (`training_request`) or any of the
    `outputs` it makes after training (a render, a mesh, a preview) cannot fit in memory."""
    require(training_request(config, points, order=order, data_bytes=data_bytes, device=device), *outputs)


def point_bytes(points: int, floats: int) -> int:
    """float32 tensors of `floats` values per point: 4 × points × floats bytes."""
    return FLOAT32 * points * floats


# ---- reading files ---------------------------------------------------------------------------

AUDIO_READ_SAMPLE_BYTES = 2 * FLOAT32 + 1
"""Per sample (frame × channel) of a file being read: soundfile's float32 array, the float32 copy
`audio_from_array` keeps, and the 1-byte mask of its finiteness check."""
VIDEO_DECODE_VALUE_BYTES = 2 + FLOAT32
"""Per value of one decoded, full-size RGB frame: the decoder's picture and its RGB array
(1 byte each) and the float32 copy that box-averaging makes."""


def image_file_request(path: Path) -> Request | None:
    """Decoding an image file, from its header (Pillow reads only the header on open); None when
    Pillow cannot read the header (the loader then says why the file cannot be read).

    Rule: frames × height × width × channels × (2 × b + 4) bytes: Pillow's decoded picture and
    imageio's array of it (b bytes per value: 1, 2 for 16-bit, 4 for 32-bit modes), then the
    float32 pixels. Palette images count 4 channels (they are expanded to RGB or RGBA).
    """
    from PIL import Image, ImageMode, UnidentifiedImageError

    try:
        with pillow_pixel_limit_lifted(), Image.open(path) as image:
            (width, height), mode, frames = image.size, image.mode, getattr(image, "n_frames", 1)
        description = ImageMode.getmode(mode)
    except (OSError, UnidentifiedImageError, ValueError, KeyError):
        return None
    channels = 4 if mode in ("P", "PA") else len(description.bands)
    stored = int(description.typestr[-1])  # bytes per value: |u1, <u2, <i4, <f4, |b1
    frame = f"{frames} frames of " if frames > 1 else ""
    return Request(
        frames * height * width * channels * (2 * stored + FLOAT32),
        f"reading {path.name} ({frame}{width}x{height}, {channels} channel(s))",
        "the image's size (resize the file first)",
    )


@contextmanager
def pillow_pixel_limit_lifted() -> Iterator[None]:
    """Pillow's decompression-bomb limit lifted while sirenkit reads an image the user named.

    Pillow refuses images over `Image.MAX_IMAGE_PIXELS` (about 89.5 megapixels: a
    DecompressionBombWarning above it, an error above twice it), a guard for servers that decode
    untrusted uploads into memory they cannot spare. sirenkit guards memory itself: the header's
    size is compared with the memory available before decoding (`image_file_request`), so an
    image that fits is read whatever its pixel count, and one that does not is refused with its
    estimate. Keeping Pillow's limit as well would refuse a 144-megapixel photograph that fits,
    and its warning is an error wherever warnings are (pytest here). The limit is a process-wide
    Pillow setting; it is restored on exit.
    """
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def audio_file_request(path: Path) -> Request | None:
    """Reading an audio file, from soundfile.info (the header): frames × channels ×
    AUDIO_READ_SAMPLE_BYTES; None when libsndfile cannot read the header."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None
    return Request(
        info.frames * info.channels * AUDIO_READ_SAMPLE_BYTES,
        f"reading {path.name} ({info.frames:,} samples × {info.channels} channel(s))",
        "the clip's length (cut the file first)",
    )


def video_stream_shape(path: Path) -> tuple[int, int, int] | None:
    """(frames, height, width) of the first video stream from the container's stream info, before
    decoding; frames from the stream's count, else its duration × average rate. None when PyAV
    cannot open the file or does not give the count."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = stream.frames
            if not frames and stream.duration and stream.time_base and stream.average_rate:
                frames = math.ceil(stream.duration * stream.time_base * stream.average_rate)
            shape = (int(frames), stream.codec_context.height, stream.codec_context.width)
    except (av.FFmpegError, IndexError, OSError, ValueError):
        return None
    return shape if min(shape) > 0 else None


def video_file_request(path: Path, max_frames: int | None, frame_step: int, downscale: int) -> Request | None:
    """Reading a video as `load_video` does, from the container's stream info; None without it.

    Rule: the kept frames, RGB uint8 downscaled, twice (the list and np.stack's copy):
    2 × kept × (H // downscale) × (W // downscale) × 3 bytes, plus one full-size frame being
    decoded and box-averaged: H × W × 3 × VIDEO_DECODE_VALUE_BYTES. kept = ⌈frames / frame_step⌉,
    at most max_frames.
    """
    shape = video_stream_shape(path)
    if shape is None:
        return None
    frames, height, width = shape
    kept = math.ceil(frames / frame_step) if max_frames is None else min(max_frames, math.ceil(frames / frame_step))
    needed = 2 * kept * (height // downscale) * (width // downscale) * 3 + height * width * 3 * VIDEO_DECODE_VALUE_BYTES
    return Request(
        needed, f"reading {kept:,} frames of {width}x{height} from {path.name}", "--frames, --frame-step or --downscale"
    )


def require_known(request: Request | None) -> None:
    """`require(request)` when the request could be computed; nothing when it could not."""
    if request is not None:
        require(request)
