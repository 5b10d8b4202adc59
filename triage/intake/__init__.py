"""Webhook intake: one module per alert source, all normalising into one `Alert`."""
