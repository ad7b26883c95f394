"""Tests of cnninterp.jaxcore."""
