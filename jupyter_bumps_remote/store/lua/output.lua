-- A running job's output events (its fit's stdout and stderr), on its own stream only;
-- dropped once the job is not running, so that none follows the terminal event.
-- KEYS: job hash, job events
-- ARGV: stream maxlen, the writing run's token ('' for none), then one JSON per event
--#include fence
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if superseded(KEYS[1], ARGV[2]) then return 0 end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'output', 'data', ARGV[i])
end
return #ARGV - 2
