"""Instrument definition files, their format and the loader that reads them."""
