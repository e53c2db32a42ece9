"""What: cases, victims, involved accounts, transfers, instructions, flags and audit."""
