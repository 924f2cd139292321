"""U-HealthSec: end-to-end encrypted document exchange for health practitioners."""

__version__ = "0.1.0"
