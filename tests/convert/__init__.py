"""Tests of cnninterp.convert."""
