"""Source transformations. One module per transformation, each with a single
entry ``transform(tree, ctx)``; analyses are separate passes that annotate."""
