"""Integration tests of the composition root: onboarding sync and the onboard/status commands."""
