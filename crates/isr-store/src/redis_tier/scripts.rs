//! The Lua scripts the Redis tier runs, each on the one key (hash tag) it names, so that in
//! a Redis Cluster it runs on that key's shard.
//!
//! They are sent with `EVAL`, not `EVALSHA` after a `SCRIPT LOAD`: in a cluster a load must
//! reach every primary (and fails while one is down), where `EVAL` goes only to the key's
//! shard. Redis caches a script it has compiled by its digest, so a repeated `EVAL` costs
//! only the script's few hundred bytes on the wire.

/// `EVAL script 1 key`: add the script's arguments, then send it.
pub(super) fn eval(script: &str, key: impl redis::ToRedisArgs) -> redis::Cmd {
    let mut eval = redis::cmd("EVAL");
    eval.arg(script).arg(1).arg(key);
    eval
}

/// KEYS[1] entry; ARGV: encoded entry, ttl (ms), channel, announcement. One script
/// rather than a MULTI with the PUBLISH: in a cluster a transaction may not span slots,
/// and a channel has a slot of its own.
pub(super) const STORE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// KEYS[1] purge hash; ARGV: name, at, mode digit, channel, announcement.
pub(super) const INVALIDATE: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
local at = tonumber(ARGV[2])
local hard = tonumber(ARGV[3])
if current then
  local sep = string.find(current, ':', 1, true)
  local current_at = tonumber(string.sub(current, 1, sep - 1))
  local current_hard = tonumber(string.sub(current, sep + 1))
  if current_at > at or (current_at == at and current_hard >= hard) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// KEYS[1] purge hash; ARGV[1] before (ms).
pub(super) const FORGET_BEFORE: &str = r"
local all = redis.call('HGETALL', KEYS[1])
local before = tonumber(ARGV[1])
local forgotten = 0
for i = 1, #all, 2 do
  local value = all[i + 1]
  local sep = string.find(value, ':', 1, true)
  if sep and tonumber(string.sub(value, 1, sep - 1)) < before then
    redis.call('HDEL', KEYS[1], all[i])
    forgotten = forgotten + 1
  end
end
return forgotten
";

/// KEYS[1] lock; ARGV[1] token.
pub(super) const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS[1] lock; ARGV[1] token, ARGV[2] ttl (ms).
pub(super) const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// KEYS[1] entry; ARGV[1] the corrupt value read.
pub(super) const REMOVE_IF_UNCHANGED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";
