"""Stage 1, the pictures: JewelSynth draws them, the audit reads a photo folder and finds
unusable files and near-duplicates."""
