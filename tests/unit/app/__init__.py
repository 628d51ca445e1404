"""Unit tests of app/ pieces that need no database."""
