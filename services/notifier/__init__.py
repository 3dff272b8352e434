"""The notifier: turns outbox events into deliveries and sends them by email and webhook."""
