"""Notebook 05: Attention-UNet segmentation of the aponeuroses."""
