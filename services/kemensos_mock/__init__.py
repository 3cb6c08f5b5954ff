"""Kemensos SIKS-NG / DTSEN stand-in: families, members, PKH memberships and KIP issuances.

Serves the contract in ``shared.contracts.kemensos`` (bulk NIK lookup, KIP paging, family read) plus a
change feed and fault injection for resilience tests. Run with ``python -m services.kemensos_mock``.
"""
