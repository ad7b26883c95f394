"""Tests of cnninterp.tui."""
