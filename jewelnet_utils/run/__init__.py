"""Stage 3, the networks and their training: the four models, the two-stage protocol, the
hyper-parameter search and backbone pretraining."""
