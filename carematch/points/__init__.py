"""Health points (健康积分) and the time bank (时间银行): a double-entry ledger (R-SV-4).

Residents earn points for taking part (check-ups, health talks, data collection) and redeem
them for services; volunteers earn time-bank minutes for help given and spend them on help
received. The pure engine is :mod:`carematch.points.ledger`; other domains post through
:mod:`carematch.points.service` (``earn_for_service`` when a service is recorded).
"""
