"""Data: read rows from a source, render them with the chat template, tokenize, batch."""
