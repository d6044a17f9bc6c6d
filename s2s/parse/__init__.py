"""Reading user functions: source retrieval, the fence, name resolution, normalization."""
