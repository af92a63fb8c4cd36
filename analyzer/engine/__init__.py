"""The first pass and the store: summary columns, flows, sans-IO analyzers, findings.

Nothing here imports a UI library; views only read what the engine produced.
"""
