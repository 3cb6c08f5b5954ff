"""KIP as an SK (decree) batch: applied to the students it names, unmatched issuances kept for follow-up."""
