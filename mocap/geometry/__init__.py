"""Pure numpy geometry: rotations (one convention), rigid transforms, projection, shape checks."""
