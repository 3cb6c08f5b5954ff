"""Loading a world directory of JSONL files into the gateway's tables."""
