"""Published figures the report sets beside ours: the seed blog's and the label-free literature."""

from __future__ import annotations

#: The seed blog's published figures: macro purity of KMeans (k=10) on CNN features, split "all":
#: (extractor, what, macro purity).
SEED_BLOG: list[tuple[str, str, float]] = [
    ("lenet", "LeNet logits + KMeans (the blog post)", 0.8904),
    ("convnet", "Keras MNIST convnet, 128-d dense layer (its update)", 0.985),
]

#: Label-free clustering of MNIST (70,000 images, k = 10): (method, Hungarian ACC, source).
LABEL_FREE: list[tuple[str, str, str]] = [
    ("KMeans on raw pixels", "0.53", "DEC-keras README, table 1 (mean of 10 trials)"),
    (
        "autoencoder (784-500-500-2000-10, 300 epochs) + KMeans",
        "0.88",
        "DEC-keras README, table 1",
    ),
    ("DEC", "0.84 to 0.91", "DEC paper / DEC-keras"),
    ("VaDE", "0.945", "VaDE README"),
    ("SpectralNet", "0.971", "SpectralNet (ICLR 2018), table 4"),
    (
        "N2D: autoencoder (1000 epochs) + UMAP (20 neighbours, 10-d, min_dist 0) + GMM",
        "0.979",
        "N2D paper, abstract",
    ),
    (
        "UMAP (30 neighbours, 2-d, min_dist 0) + HDBSCAN",
        "ARI 0.924, AMI 0.903",
        'umap-learn docs, "Using UMAP for clustering"',
    ),
]
