"""Probes of the live cluster: each a query (I/O) plus a pure parser."""
