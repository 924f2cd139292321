"""What the server shows a supervisory authority: the record of processing activities
(GDPR art. 30, rule R25), generated from the code's declarations and the deployment's
settings."""
