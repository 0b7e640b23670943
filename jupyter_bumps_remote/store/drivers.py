"""The two drivers of the store's operations: `JobStore` on a sync `redis.Redis` (worker,
CLI, tests), `AsyncJobStore` on `redis.asyncio.Redis` (server extension).

Each runs an operation's generator (batch.py), sending each `Batch` in one round trip: a
lone script call directly, anything else in a pipeline (MULTI/EXEC when the batch asks).
Both list the same operations, each in one line (binding.py gives it its signature).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from . import checkpoints, quotas, records, taken_messages, transitions
from . import events as event_ops
from . import workers as worker_ops
from .batch import Batch, OpGen, Script
from .binding import async_op, sync_op
from .scripts import register
from .settings import DEFAULT_EVENTS_MAXLEN, DEFAULT_PREFIX, DEFAULT_RESULT_TTL, StoreSettings

R = TypeVar("R")
Client = TypeVar("Client", Redis, AsyncRedis)


class _Connected(Generic[Client]):
    """What both drivers hold: the client, the settings and keys, the scripts."""

    def __init__(
        self,
        redis: Client,
        prefix: str = DEFAULT_PREFIX,
        events_maxlen: int = DEFAULT_EVENTS_MAXLEN,
        result_ttl: int = DEFAULT_RESULT_TTL,
    ):
        self.redis: Client = redis
        self.settings = StoreSettings(prefix, events_maxlen, result_ttl)
        self.keys = self.settings.keys
        self.scripts = register(redis)


class JobStore(_Connected[Redis]):
    """Sync store (worker, CLI, tests)."""

    def run(self, gen: OpGen[R]) -> R:
        """Run an operation (or any generator of batches, e.g. a reconcile sweep)."""
        reply = None
        try:
            while True:
                reply = self._execute(gen.send(reply))
        except StopIteration as stop:
            return stop.value

    def _execute(self, batch: Batch) -> list[Any]:
        script = batch.single_script
        if script is not None:
            return [self.scripts[script.name](keys=script.keys, args=script.args)]
        try:
            return self._pipeline(batch)
        except RedisConnectionError:
            if not batch.repeatable:
                raise
            return self._pipeline(batch)  # see Batch.repeatable

    def _pipeline(self, batch: Batch) -> list[Any]:
        pipe = self.redis.pipeline(transaction=batch.transaction)
        for command in batch.commands:
            if isinstance(command, Script):
                self.scripts[command.name](keys=command.keys, args=command.args, client=pipe)
            else:
                pipe.execute_command(*command)
        return pipe.execute()

    create = sync_op(records.create)
    create_many = sync_op(records.create_many)
    get = sync_op(records.get)
    get_with_result = sync_op(records.get_with_result)
    get_after_newest_event = sync_op(records.get_after_newest_event)
    many = sync_op(records.many)
    payload = sync_op(records.payload)
    checkpoint = sync_op(checkpoints.checkpoint)
    put_checkpoint = sync_op(checkpoints.put_checkpoint)
    drained = sync_op(checkpoints.drained)
    result = sync_op(records.result)
    result_json = sync_op(records.result_json)
    session = sync_op(records.session)
    session_with_record = sync_op(records.session_with_record)
    put_result = sync_op(records.put_result)
    list = sync_op(records.list_jobs)
    delete = sync_op(records.delete)
    start = sync_op(transitions.start)
    start_run = sync_op(transitions.start_run)
    keep_lease = sync_op(transitions.keep_lease)
    release_lease = sync_op(transitions.release_lease)
    lease_left = sync_op(transitions.lease_left)
    finish = sync_op(transitions.finish)
    request_cancel = sync_op(transitions.request_cancel)
    request_cancel_many = sync_op(transitions.request_cancel_many)
    progress = sync_op(transitions.progress)
    cancel_reason = sync_op(transitions.cancel_reason)
    holds_job = sync_op(transitions.holds_job)
    put_session = sync_op(transitions.put_session)
    claim_build = sync_op(transitions.claim_build)
    release_build = sync_op(transitions.release_build)
    build_token = sync_op(transitions.build_token)
    events = sync_op(event_ops.events)
    wait_events = sync_op(event_ops.wait_events)
    beat = sync_op(worker_ops.beat)
    forget_worker = sync_op(worker_ops.forget_worker)
    workers = sync_op(worker_ops.workers)
    usage = sync_op(quotas.usage)
    next_message = sync_op(taken_messages.next_message)
    ack_taken = sync_op(taken_messages.ack_taken)
    give_back = sync_op(taken_messages.give_back)


class AsyncJobStore(_Connected[AsyncRedis]):
    """asyncio store (server extension)."""

    async def run(self, gen: OpGen[R]) -> R:
        """Run an operation (or any generator of batches, e.g. a reconcile sweep)."""
        reply = None
        try:
            while True:
                reply = await self._execute(gen.send(reply))
        except StopIteration as stop:
            return stop.value

    async def _execute(self, batch: Batch) -> list[Any]:
        script = batch.single_script
        if script is not None:
            return [await self.scripts[script.name](keys=script.keys, args=script.args)]
        try:
            return await self._pipeline(batch)
        except RedisConnectionError:
            if not batch.repeatable:
                raise
            return await self._pipeline(batch)  # see Batch.repeatable

    async def _pipeline(self, batch: Batch) -> list[Any]:
        pipe = self.redis.pipeline(transaction=batch.transaction)
        for command in batch.commands:
            if isinstance(command, Script):
                await self.scripts[command.name](keys=command.keys, args=command.args, client=pipe)
            else:
                pipe.execute_command(*command)
        return await pipe.execute()

    create = async_op(records.create)
    create_many = async_op(records.create_many)
    get = async_op(records.get)
    get_with_result = async_op(records.get_with_result)
    get_after_newest_event = async_op(records.get_after_newest_event)
    many = async_op(records.many)
    payload = async_op(records.payload)
    checkpoint = async_op(checkpoints.checkpoint)
    put_checkpoint = async_op(checkpoints.put_checkpoint)
    drained = async_op(checkpoints.drained)
    result = async_op(records.result)
    result_json = async_op(records.result_json)
    session = async_op(records.session)
    session_with_record = async_op(records.session_with_record)
    put_result = async_op(records.put_result)
    list = async_op(records.list_jobs)
    delete = async_op(records.delete)
    start = async_op(transitions.start)
    start_run = async_op(transitions.start_run)
    keep_lease = async_op(transitions.keep_lease)
    release_lease = async_op(transitions.release_lease)
    lease_left = async_op(transitions.lease_left)
    finish = async_op(transitions.finish)
    request_cancel = async_op(transitions.request_cancel)
    request_cancel_many = async_op(transitions.request_cancel_many)
    progress = async_op(transitions.progress)
    cancel_reason = async_op(transitions.cancel_reason)
    holds_job = async_op(transitions.holds_job)
    put_session = async_op(transitions.put_session)
    claim_build = async_op(transitions.claim_build)
    release_build = async_op(transitions.release_build)
    build_token = async_op(transitions.build_token)
    events = async_op(event_ops.events)
    wait_events = async_op(event_ops.wait_events)
    beat = async_op(worker_ops.beat)
    forget_worker = async_op(worker_ops.forget_worker)
    workers = async_op(worker_ops.workers)
    usage = async_op(quotas.usage)
    next_message = async_op(taken_messages.next_message)
    ack_taken = async_op(taken_messages.ack_taken)
    give_back = async_op(taken_messages.give_back)
