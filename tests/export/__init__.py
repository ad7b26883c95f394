"""Tests of cnninterp.export."""
