"""Handwritten words and phrases: CRNN + CTC, decoders, spelling, segmentation."""
