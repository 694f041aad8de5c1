"""The pure core: frozen types and functions, no I/O, no asyncio, no clock reads."""
