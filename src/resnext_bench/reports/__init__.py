"""Result schema, tables, plots, HTML/markdown reports, compare and recommend."""
