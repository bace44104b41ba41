"""Scheduler names a generation job may ask for, and building one from a pipeline's scheduler config.

Kept apart from ``models`` (which loads pipelines) and ``jobs`` (which validates names) so that
neither has to import the other.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError

__all__ = ["SCHEDULERS", "make_scheduler"]

#: scheduler names accepted by jobs and ``models.load_generator`` (built ``from_config`` of the pipeline's)
SCHEDULERS = ("ddim", "dpm", "dpm++", "euler", "euler_a", "pndm", "ddpm", "unipc")


def make_scheduler(name: str, config: Any) -> Any:
    """A diffusers scheduler called ``name`` (one of :data:`SCHEDULERS`) built from another's ``config``."""
    import diffusers

    classes = {
        "ddim": diffusers.DDIMScheduler,
        "dpm": diffusers.DPMSolverMultistepScheduler,
        "dpm++": diffusers.DPMSolverMultistepScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
        "euler_a": diffusers.EulerAncestralDiscreteScheduler,
        "pndm": diffusers.PNDMScheduler,
        "ddpm": diffusers.DDPMScheduler,
        "unipc": diffusers.UniPCMultistepScheduler,
    }
    if name not in classes:
        raise ConfigError(f"unknown scheduler {name!r}; choose one of {list(classes)}")
    return classes[name].from_config(config)
