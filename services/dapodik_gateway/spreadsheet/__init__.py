"""Import and export of a school's students as CSV or XLSX, with the column names of Dapodik's own export."""
