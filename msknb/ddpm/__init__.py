"""Notebooks 01-04: diffusion maths, the U-Net, training and sampling."""
