"""Store operations as typed methods of a driver, each written once (as an `OpGen`).

`get = sync_op(records.get)` on a driver class gives `store.get(owner, job_id)` with the
operation's own parameters (less the settings) and its result type: `R` on the sync store,
awaitable `R` on the asyncio one. IDEs and type checkers read them like methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from .batch import OpGen
from .settings import StoreSettings

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncRunner(Protocol):
    settings: StoreSettings

    def run(self, gen: OpGen[T]) -> T: ...


class AsyncRunner(Protocol):
    settings: StoreSettings

    def run(self, gen: OpGen[T]) -> Awaitable[T]: ...


class sync_op(Generic[P, R]):  # noqa: N801 - used like a decorator
    """An operation as a method of a sync driver: runs it and returns its result."""

    def __init__(self, op: Callable[Concatenate[StoreSettings, P], OpGen[R]]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    @overload
    def __get__(self, store: None, owner: type[Any]) -> sync_op[P, R]: ...
    @overload
    def __get__(self, store: SyncRunner, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, store: SyncRunner | None, owner: type[Any]) -> Any:
        if store is None:
            return self
        op = self.op

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return store.run(op(store.settings, *args, **kwargs))

        return call


class async_op(Generic[P, R]):  # noqa: N801 - used like a decorator
    """An operation as a method of an asyncio driver: returns an awaitable of its result."""

    def __init__(self, op: Callable[Concatenate[StoreSettings, P], OpGen[R]]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    @overload
    def __get__(self, store: None, owner: type[Any]) -> async_op[P, R]: ...
    @overload
    def __get__(self, store: AsyncRunner, owner: type[Any]) -> Callable[P, Awaitable[R]]: ...
    def __get__(self, store: AsyncRunner | None, owner: type[Any]) -> Any:
        if store is None:
            return self
        op = self.op

        def call(*args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
            return store.run(op(store.settings, *args, **kwargs))

        return call
