"""``msknb run``: the notebook series executed headless, one module per idea.

:mod:`~msknb.runner.series` (run the series, ``index.json``, the times line),
:mod:`~msknb.runner.notebook_client` (the papermill engine with bounded kernel polls),
:mod:`~msknb.runner.kernel_timeouts` (each notebook's fitted cell timeout),
:mod:`~msknb.runner.warm_kernel` (the next notebook's kernel started early),
:mod:`~msknb.runner.cell_progress` (cell k of n in the terminal),
:mod:`~msknb.runner.cpu_estimate` (what a paper-profile run on a CPU will take),
:mod:`~msknb.runner.times_table` (the README's measured times),
:mod:`~msknb.runner.machine` (the machine and command line a measurement records).
"""
