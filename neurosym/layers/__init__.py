"""Model layers, one module per concept."""
