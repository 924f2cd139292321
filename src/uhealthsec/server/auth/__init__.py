"""Authentication: passwords, second factors, OAuth 2.1 with PASETO tokens, sessions."""
