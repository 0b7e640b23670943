-- Put the message of a run whose worker died back on its queue, if nothing changed since
-- the sweep looked: the message is still in kombu's unacked hash as read, the job is still
-- `running` under the worker the sweep saw, its lease has lapsed (no run holds the job),
-- and, when the sweep found it so, the worker's advertisement is gone. Then the message
-- leaves the unacked hash and its index and goes to the head of its queue (the end the
-- consumers pop, as kombu's own restore does). Atomic: two sweepers requeue it once, and a
-- run that took its lease back meanwhile keeps its job.
-- KEYS: unacked hash, unacked index, queue, job hash, lease, worker advertisement
-- ARGV: delivery tag, message as read, message to push, worker name,
--       '1' if the worker's advertisement must be gone
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[4], 'status') ~= 'running' then return 0 end
if (redis.call('HGET', KEYS[4], 'worker') or '') ~= ARGV[4] then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
