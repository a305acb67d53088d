"""Notifications: a durable outbox of messages to people, delivered over email, Slack, Teams, SMS and webhooks.
(Filled in by the notifications module.)"""
