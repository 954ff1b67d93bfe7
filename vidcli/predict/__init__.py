"""Next-frame prediction with Dynamic Filter Networks: the network, its training data and its recipe."""
