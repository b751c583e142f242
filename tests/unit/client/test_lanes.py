"""Request slots with lanes: a turn whose reply was found first, then turns under way, then the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from mix_provider.client.lanes import Slots, finishing, urgent


async def _use(slots: Slots, name: str, order: list[str], gate: asyncio.Event, *, first: bool = False) -> None:
    async def hold() -> None:
        async with slots.hold():
            order.append(name)
            await gate.wait()

    if first:
        with urgent():
            await hold()
    else:
        await hold()


async def test_a_freed_slot_goes_to_the_oldest_urgent_waiter_first() -> None:
    slots, order, gate = Slots(1), [], asyncio.Event()
    tasks = [asyncio.create_task(_use(slots, "holder", order, gate))]
    await asyncio.sleep(0)
    for name, first in (("start 1", False), ("start 2", False), ("end 1", True), ("end 2", True)):
        tasks.append(asyncio.create_task(_use(slots, name, order, gate, first=first)))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["holder", "end 1", "end 2", "start 1", "start 2"]


async def test_never_more_in_flight_than_the_slots_each_holding_its_own_slot() -> None:
    slots, held, most = Slots(3), set(), 0

    async def request(index: int) -> None:
        nonlocal most
        with urgent() if index % 2 else nullcontext():
            async with slots.hold() as slot:
                assert slot not in held and 0 <= slot < 3
                held.add(slot)
                most = max(most, len(held))
                await asyncio.sleep(0.001)
                held.remove(slot)

    await asyncio.gather(*(request(i) for i in range(40)))
    assert most == 3
    async with slots.hold() as slot:
        assert slot == 0, "the lowest free slot first: a light user keeps one connection"


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    slots, order, gate = Slots(1), [], asyncio.Event()
    holder = asyncio.create_task(_use(slots, "holder", order, gate))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(_use(slots, "cancelled", order, gate, first=True))
    later = asyncio.create_task(_use(slots, "later", order, gate))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    await asyncio.gather(holder, later)
    assert order == ["holder", "later"]
    async with slots.hold():  # the slot came back
        pass


async def test_a_turn_whose_reply_was_found_goes_before_turns_under_way() -> None:
    """Otherwise, with many replies ending at once, each turn's last request would queue behind every
    other turn's transcript read, and all of them would fire only at the end."""
    slots, order, gate = Slots(1), [], asyncio.Event()

    async def use(lane: Callable[[], AbstractContextManager[None]], name: str) -> None:
        with lane():
            await _use(slots, name, order, gate)

    tasks = [asyncio.create_task(use(nullcontext, "holder"))]
    await asyncio.sleep(0)
    for lane, name in ((nullcontext, "start"), (urgent, "read 1"), (finishing, "usage 1"), (urgent, "read 2")):
        tasks.append(asyncio.create_task(use(lane, name)))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["holder", "usage 1", "read 1", "read 2", "start"]
