"""What every benchmark prints beside its figures: the CPU, the threads, torch and the precision."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """One line: CPU, torch threads, torch version and what precision "auto" picks on this CPU."""
    import torch

    from sirenkit.fit import autocast_dtype

    auto = autocast_dtype("auto", torch.device("cpu")) or torch.float32
    return (
        f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"precision auto = {str(auto).removeprefix('torch.')}"
    )
