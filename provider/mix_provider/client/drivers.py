"""The loops that drive a wait's flow (:func:`~mix_provider.client.wait.reply_flow`): one blocking, one
asyncio. They differ only in whether a command is awaited, and in where a costly reading runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from mix_provider.client.ties import crowded
from mix_provider.client.wait import Command, Flow, Scan

T = TypeVar("T")


class Driving(Generic[T]):
    """One flow between two commands: what goes into it next (a result, or an error to throw), and its
    value once it returned. The drivers below differ only in whether a command is awaited."""

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self._result: Any = None
        self._error: Exception | None = None
        self.value: T

    def next(self) -> Command | None:
        """The flow's next command, or None once it returned (its value is then :attr:`value`)."""
        error, self._error = self._error, None
        try:
            return self._flow.send(self._result) if error is None else self._flow.throw(error)
        except StopIteration as stop:
            self.value = stop.value
            return None

    def done(self, result: Any) -> None:
        """The last command's result, sent into the flow next."""
        self._result = result

    def failed(self, error: Exception) -> None:
        """The last command's error, thrown into the flow next: the flow decides what it means."""
        self._result, self._error = None, error


def drive(flow: Flow[T], do: Callable[[Command], Any]) -> T:
    """Run ``flow`` to its end, doing each command with ``do`` (blocking)."""
    driving = Driving(flow)
    while (command := driving.next()) is not None:
        try:
            driving.done(do(command))
        except Exception as exc:
            driving.failed(exc)
    return driving.value


async def adrive(flow: Flow[T], do: Callable[[Command], Awaitable[Any]]) -> T:
    """Run ``flow`` to its end, awaiting each command with ``do``.

    After a transcript read whose seconds hold several runs (:func:`~mix_provider.client.ties.crowded`),
    the flow reads its turn in a worker thread: that reading can take a large share of a second of
    CPU, which on the loop would hold every other wait of a triggerer for as long.
    """
    driving = Driving(flow)
    command = driving.next()
    while command is not None:
        offload = False
        try:
            result = await do(command)
            driving.done(result)
            offload = isinstance(command, Scan) and crowded(
                result.messages, command.turn.after_user_messages, command.turn.injected
            )
        except Exception as exc:
            driving.failed(exc)
        command = await asyncio.to_thread(driving.next) if offload else driving.next()
    return driving.value
