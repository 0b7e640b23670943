-- Store the checkpoint a running fit sent (opaque bytes: only the job's own fit process
-- unpickles them), for the run that holds the job's lease and no other: a run that lost
-- its job (taken over, deleted) writes nothing. A completed fit sends its end state after
-- its outcome, while its session file is `writing` and its run still holds the lease. The
-- key has no expiry while the job runs; the scripts that end the job give it the record's
-- (transition, cancel, start), and one written after that gets the record's remaining TTL.
-- Its size counts in the owner's stored bytes; it is never refused (it replaces the last).
-- KEYS: job hash, checkpoint, lease, bytes, usage
-- ARGV: lease token, checkpoint bytes, now
-- Returns 1 (stored) or 0 (not this run's job).
--#include usage
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' and redis.call('HGET', KEYS[1], 'session') ~= 'writing' then
  return 0
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local id = redis.call('HGET', KEYS[1], 'id')
local size = string.len(ARGV[2]) - redis.call('STRLEN', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
redis.call('HSET', KEYS[1], 'checkpointed', ARGV[3])
if id then add_bytes(KEYS[4], KEYS[5], id, size) end
return 1
