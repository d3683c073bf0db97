"""Live market data: exchange adapters (through ccxt's websocket support) publishing on the wire format.

Needs the ``feed`` extra (``pip install 'stratops[feed]'``); nothing else in the executor imports it.
"""
