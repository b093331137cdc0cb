"""Indicators (指标): definitions, computation, targets, anomalies, risk index, budget."""
