"""cnninterp's tests, a package so that their helpers import by their full name
(`from tests.jaxcore.torch_reference import Pair`), never by a bare module name that depends
on which folder pytest happened to put on sys.path first."""
