"""Tests of cnninterp.demo."""
