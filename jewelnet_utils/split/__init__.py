"""Stage 2, from pictures to training batches: the leak-free split and the augmentation of
Table 4.2."""
