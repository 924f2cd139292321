"""Accounts: practitioners and patients, practices (teams), roles, invitations."""
