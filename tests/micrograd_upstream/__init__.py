"""micrograd's own test file and notebooks, imports changed to run on autograd_lite.micrograd."""
