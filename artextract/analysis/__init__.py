"""Analysis of a collection's embeddings: projections, outlier scores, metrics and the similarity index."""
