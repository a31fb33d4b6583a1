"""Document edge detection: find a paper page's four corners in a photo and flatten it.

HED edge network + quadrilateral finder, a corner-heatmap network, and the classical Canny and
paper-colour baselines, all measured side by side (see ``docs/doc-edges.md``).
"""
