"""The tamper-evident provenance ledger: a hash chain over every provenance record the hub writes, with signed
RFC 6962 Merkle checkpoints (docs/ledger.md). Hashing rules: ``shared.ledger_hash``."""
