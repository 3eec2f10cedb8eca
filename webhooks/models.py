"""Webhook endpoints and deliveries of outbox events (accounts.OutboxEvent)."""
