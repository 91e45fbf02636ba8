"""consent-vault: personal data encrypted per data subject, erased by destroying keys."""

__version__ = "0.1.0"
