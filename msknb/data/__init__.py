"""Notebook 00: loading ultrasound images and masks, FOV crop, DICOM, splits, download, phantoms."""
