"""The model of a lab run, with no torch: parameters (spec), the run context, events and
results, comparisons (sweeps and presets), views, and the task protocol."""
