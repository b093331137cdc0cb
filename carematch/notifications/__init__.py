"""Notifications: the outbox, the worker that delivers it, channel adapters (inbox, SMS, WeChat)."""
