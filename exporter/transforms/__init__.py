"""Pure transforms over the pandoc AST of a note: each returns new blocks and its problems."""
