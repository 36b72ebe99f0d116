"""Incremental plans: what a plan need not read again.

inputs.py   each campaign's inputs (files, leadsFile, seal, chunks), read once (#33)
seal.py     a campaign whose files are as the last apply recorded is not read at all (#13)
partial.py  of a sealed campaign whose leadsFile changed, only the chunks that changed (#23)
"""
