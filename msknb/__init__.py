"""msknb: a Jupyter teaching and exploration kit for diffusion models on
musculoskeletal ultrasound (MSK-US), after Katakis et al. 2023.

One module per idea: ``data``, ``dicom``, ``splits``, ``phantom``, ``diffusion``,
``unet``, ``train``, ``sample``, ``segment``, ``thickness``, ``metrics``, ``report``,
``runner``. Import them explicitly (``from msknb import diffusion``); this package
import stays light.
"""
from msknb.errors import MsknbError

__version__ = "0.1.0"
__all__ = ["MsknbError", "__version__"]
