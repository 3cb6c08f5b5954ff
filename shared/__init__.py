"""Jembatan's shared library: NIK rules, wire contracts, typed clients, HTTP policy, settings, errors, logging.

Every service imports from here; no service imports another service.
"""
