"""msknb: a Jupyter teaching and exploration kit for diffusion models on
musculoskeletal ultrasound (MSK-US), after Katakis et al. 2023.

One subpackage per stage, in the order of the notebooks: ``data`` (00), ``ddpm`` (01-04),
``segmentation`` (05), ``thickness`` (06), ``evaluation`` (07, the report), ``cli``; shared
primitives below them (``errors``, ``io``, ``paths``, ``profiles``, ``masks``, ``readings``, ``results``,
``stored_results``).
Import what you need explicitly (``from msknb.ddpm import diffusion``); this package import
stays light. ``docs/ARCHITECTURE.md`` maps every module.
"""
from msknb.errors import MsknbError

__version__ = "0.1.0"
__all__ = ["MsknbError", "__version__"]
