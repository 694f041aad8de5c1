# The UDP reader's loop in C (resolver/_replay.c); see resolver/udp_reader.py.
from collections.abc import Callable

def serve(
    fd: int,
    reader: object,
    engine: object,
    steering: object,
    memo: dict[str, tuple[bool, str | None]],
    allowed: tuple[bool, str | None],
    clock: Callable[[], float],
    queries: dict[tuple[int, int], int],
    counts: object,
    sample: int,
    limited: bool,
    /,
) -> None: ...
