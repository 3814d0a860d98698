"""``msknb.diffusion`` is :mod:`msknb.ddpm.diffusion` under its first name (students' notebooks import it)."""
import sys

from msknb.ddpm import diffusion as _diffusion

sys.modules[__name__] = _diffusion
