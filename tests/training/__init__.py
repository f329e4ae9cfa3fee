"""Tests for the training recipe (training/)."""
