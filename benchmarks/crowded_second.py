"""Event-loop stalls while a wait reads its turn over a crowded second: on the loop vs the asyncio driver.

    .venv/bin/python benchmarks/crowded_second.py [--quick] [--rounds 7]

Three whole runs (a tool round, a ``send_message`` and a ``bash_script`` callback each) stored in one
second and listed in a seeded random order: reading one of them explores many causal orders
(``client/ties.py``, up to ``MAX_ORDERS``). A ticker coroutine sleeps 1 ms at a time and records the
longest gap between its wake-ups while one reading runs, side by side in each round:

- ``on the loop``: ``finished_reply`` called in a coroutine (what the asyncio driver did for every read);
- ``adrive``: the flow reads the transcript and the driver, seeing a crowded second
  (``ties.crowded``), reads the turn in a worker thread.

No server: the transcript is built in memory, so only the reading is measured. The worker thread
still holds the GIL while it computes; the loop gets it back every switch interval (5 ms).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import median, parser, print_table

ON_LOOP, DRIVER = "on the loop", "adrive (worker thread)"
CALLBACKS = [
    {"type": "send_message", "toolName": "bash", "messageContent": "Now summarise."},
    {"type": "bash_script", "toolName": "bash", "bashCommand": "echo ok"},
]


def transcript(seed: int) -> list[dict[str, Any]]:
    """A finished earlier turn, then three whole runs with callbacks in one second, in a random order."""

    def row(mid: str, role: str, text: str = "", reason: str | None = None, calls: int = 0) -> dict[str, Any]:
        message: dict[str, Any] = {"id": mid, "role": role, "content": text, "createdAt": "2026-01-01T00:00:02Z"}
        if reason:
            message["finishReason"] = reason
        if calls:
            message["toolCalls"] = [{"id": f"{mid}-c", "name": "bash", "finished": True}]
        return message

    runs = []
    for name in "abc":
        runs += [
            row(f"{name}-u", "user", f"text of {name}"),
            row(f"{name}-tu", "assistant", "", "tool_use", calls=1),
            row(f"{name}-t", "tool"),
            row(f"{name}-inj", "user", "Now summarise."),
            row(f"{name}-cb1", "tool"),
            row(f"{name}-cb2", "tool"),
            row(f"{name}-final", "assistant", f"answer of {name}", "end_turn"),
        ]
    history = [
        {**row("h-u", "user", "earlier"), "createdAt": "2026-01-01T00:00:01Z"},
        {**row("h-a", "assistant", "earlier answer", "end_turn"), "createdAt": "2026-01-01T00:00:01Z"},
    ]
    return history + random.Random(seed).sample(runs, len(runs))


async def stall(read: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """The longest gap between a 1 ms ticker's wake-ups while ``read`` runs, and ``read``'s wall time."""
    longest, running = 0.0, True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await read()
    took = time.perf_counter() - started
    running = False
    await tick
    return longest, took


def contenders(seed: int) -> dict[str, Callable[[], Awaitable[Any]]]:
    from mix_provider.client.drivers import adrive
    from mix_provider.client.scan import ScannedTranscript
    from mix_provider.client.turns import TurnKey, finished_reply
    from mix_provider.client.wait import Scan
    from mix_provider.errors import MixReplyAmbiguousError
    from mix_provider.models import Callback, MessageRecord

    records = [MessageRecord.model_validate(row) for row in transcript(seed)]
    key = TurnKey.of(1, "text of a", [Callback.model_validate(cb) for cb in CALLBACKS])

    def reply() -> Any:
        try:
            return finished_reply(records, key, "s")
        except MixReplyAmbiguousError:
            return "ambiguous"

    async def on_loop() -> Any:
        return reply()

    def flow() -> Any:
        yield Scan("s", key)
        return reply()

    async def scanned(command: Any) -> ScannedTranscript:
        return ScannedTranscript(records)

    async def driven() -> Any:
        return await adrive(flow(), scanned)

    return {ON_LOOP: on_loop, DRIVER: driven}


async def measure(rounds: int, seed: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {ON_LOOP: [], DRIVER: []}
    for index in range(rounds):
        reads = contenders(seed)
        order = [ON_LOOP, DRIVER] if index % 2 == 0 else [DRIVER, ON_LOOP]
        for name in order:
            results[name].append(await stall(reads[name]))
    return results


def main() -> None:
    args = parser(__doc__)
    args.add_argument("--rounds", type=int, default=7)
    args.add_argument("--seed", type=int, default=11)
    options = args.parse_args()
    rounds = 3 if options.quick else options.rounds
    result = asyncio.run(measure(rounds, options.seed))
    base = median([gap for gap, _ in result[DRIVER]])
    rows = [
        (
            name,
            len(values),
            f"{median([took for _, took in values]) * 1000:.0f}",
            f"{median([gap for gap, _ in values]) * 1000:.1f}",
            f"{max(gap for gap, _ in values) * 1000:.1f}",
            f"{median([gap for gap, _ in values]) / base:.0f}x",
        )
        for name, values in result.items()
    ]
    print_table(
        f"one reading of a second holding 3 whole runs with callbacks (seed {options.seed}), {rounds} rounds",
        ["contender", "rounds", "reading ms (median)", "longest loop stall ms (median)", "max ms", "vs adrive"],
        rows,
    )


if __name__ == "__main__":
    main()
