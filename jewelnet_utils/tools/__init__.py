"""Beside the pipeline: the benchmark, JewelSynth calibration, the thesis audit, the generated
protocol page and the pre-build checks."""
