"""Looking at faces outside a video run: find the faces of one image, copy frames for experiments.

Benchmarks, tests and the detector's tools share these; they sit above the stages (they run them)
and below the command line.
"""
