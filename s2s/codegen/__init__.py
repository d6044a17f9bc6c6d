"""Code generation: readable Python source and code objects; StableHLO text."""
