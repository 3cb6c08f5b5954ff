"""Families at risk: PKH families whose education component is at risk in a period (docs/families-at-risk.md)."""
