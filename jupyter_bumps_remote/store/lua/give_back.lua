-- A message a pool process took off its queue (start.lua) goes back to the head of its
-- queue, out of kombu's unacked hash and index: its run was given back by a drain
-- (drain.lua), as Celery's reject with requeue gives back a delivered one. Nothing if the
-- message is no longer unacked (the sweep for lost runs requeued it already).
-- KEYS: unacked hash, unacked index, queue
-- ARGV: delivery tag, message
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
