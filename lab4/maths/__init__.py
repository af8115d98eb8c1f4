"""The numerics, on torch: expressions, numerical differentiation, gradcheck, landscapes,
curvature and spectra, optimizers and their theory, custom losses, training, datasets."""
