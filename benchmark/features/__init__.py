"""The leakage-free feature store: everything a model may know about a sample, as of strictly before it."""

from benchmark.features.store import FeatureStore, build_features

__all__ = ["FeatureStore", "build_features"]
