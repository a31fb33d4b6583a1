"""CTPN text-line detector: anchors, targets, model, text-line builder and NMS."""
