"""Bank and payment statements (流水) read into money movements: the formats of
../shared/STATEMENTS.md, streamed row by row (funds.services.imports writes them)."""
