"""Tests for the Overnight project; they mirror the source tree."""
