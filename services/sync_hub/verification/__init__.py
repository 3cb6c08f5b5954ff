"""Education verification: what the hub tells Kemensos of each PKH child it linked (enrolled, active, school,
monthly attendance against the 85 % rule), once per child and PKH period, from the record that is current."""
