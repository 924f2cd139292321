"""The U-HealthSec API server (FastAPI). One package per domain is added as it is built."""
