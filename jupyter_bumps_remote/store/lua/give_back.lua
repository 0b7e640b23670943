-- A message a pool process took off its queue (start.lua) goes back to the head of its
-- queue, out of kombu's unacked hash and index: its run was given back by a drain
-- (drain.lua). At the head, as the sweep for lost runs puts a lost run's (requeue_lost.lua):
-- the job was running, and the next consumer resumes it first. Nothing if the message is
-- no longer unacked (that sweep requeued it already).
-- KEYS: unacked hash, unacked index, queue
-- ARGV: delivery tag, the message to push (flagged redelivered)
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
