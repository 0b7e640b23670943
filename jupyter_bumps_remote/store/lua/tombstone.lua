-- A job whose record Redis lost (restarted without persistence) while it was queued or
-- running: write a small failed record in its place, so that every reader (REST, sidebar,
-- kernel) sees why it ended instead of a bare 404. Never overwrites a record that exists.
-- KEYS: job hash, job events, owner events, owner index
-- ARGV: stream maxlen, failed event JSON, created (index score), ttl, job id, then
--       field/value pairs of the record
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[5])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'status', 'data', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'type', 'status', 'data', ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
