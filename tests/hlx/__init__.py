"""Tests for the HLX toolkit (hlx/)."""
