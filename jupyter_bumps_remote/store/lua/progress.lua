-- Progress of a running job; dropped once the job is not running, so a late event can
-- never follow the terminal one.
-- KEYS: job hash, job events, owner events
-- ARGV: stream maxlen, full progress JSON (job stream), compact summary JSON (record, owner),
--       the writing run's token ('' for none)
--#include fence
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return false end
if superseded(KEYS[1], ARGV[4]) then return false end
redis.call('HSET', KEYS[1], 'progress', ARGV[3])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'progress',
                      'data', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'type', 'progress', 'data', ARGV[3])
return id
