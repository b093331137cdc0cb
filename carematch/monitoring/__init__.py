"""Chronic monitoring (慢病监测): readings, alert rules, follow-up tasks, risk and TB rates."""
