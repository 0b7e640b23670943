-- Store a job's result summary, counted in its owner's stored bytes. Nothing is stored for
-- a job deleted meanwhile; stored again (a retry across a Redis outage), it replaces the
-- first. It expires with the record.
-- KEYS: job hash, result, bytes, usage
-- ARGV: job id, summary JSON, the writing run's token ('' for none)
--#include usage
--#include fence
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if superseded(KEYS[1], ARGV[3]) then return 0 end
local before = redis.call('STRLEN', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
add_bytes(KEYS[3], KEYS[4], ARGV[1], string.len(ARGV[2]) - before)
return 1
