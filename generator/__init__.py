"""stratops generator: strategy spec -> Helm values -> checked commit in the fleet repo."""

__version__ = "0.1.0"
