"""Changes of a student's record by the school (an operator's edit or a spreadsheet import)."""
