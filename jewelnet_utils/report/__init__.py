"""Stage 4, what the runs show: metrics with intervals, the thesis-beside-ours tables, the
recommender and every figure."""
