"""Chinese text: a DenseNet/CRNN + CTC line recogniser and the page pipeline CTPN -> crop -> recognise."""
