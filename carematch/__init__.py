"""CareMatch: regional public-health service matching platform (健康服务精准对接平台)."""

__version__ = "0.1.0"
