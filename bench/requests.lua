-- wrk script: replays a pool of pre-built, distinct, signed (and in safe mode encrypted) pushes.
-- Usage: wrk -t1 -c32 -d10s -s bench/requests.lua URL -- POOL_FILE [cycle|once|drain]
-- POOL_FILE has one push per line: "<path and query>\t<body>". In "once" mode (servers that
-- dedup) no push is sent twice: the thread stops when the pool is used up. At the end a line
-- "JSON {...}" reports requests, duration, latency percentiles and what the responses held.
-- "drain" (one thread only) sends the pool once and exits as soon as every push is answered,
-- with the counters but no latencies: wrk itself would wait for -d whatever its threads do.

-- Globals, not locals: done() reads the counters of each thread with thread:get().
pool, size, next_index = {}, 0, 0
once = false
sent, answered, non200, replies, empty, repeated = 0, 0, 0, 0, 0, 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  for line in file:lines() do
    local path, body = line:match("^([^\t]*)\t(.*)$")
    size = size + 1
    pool[size] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
  end
  file:close()
  once = args[2] == "once" or args[2] == "drain"
  drain = args[2] == "drain"
end

function request()
  next_index = next_index + 1
  if next_index > size then
    if once then
      repeated = repeated + 1 -- only the last few connections, while the thread stops
      return pool[size]
    end
    next_index = 1
  end
  sent = sent + 1
  return pool[next_index]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    non200 = non200 + 1
  elseif body == nil or #body == 0 or body == "success" then
    empty = empty + 1
  else
    replies = replies + 1
  end
  if once and answered >= size then
    if drain then
      io.write(string.format(
        'JSON {"requests": %d, "non200": %d, "replies": %d, "empty": %d, "repeated": %d}\n',
        answered, non200, replies, empty, repeated))
      io.flush()
      os.exit(0)
    end
    wrk.thread:stop()
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local t = {non200 = 0, replies = 0, empty = 0, repeated = 0, pool = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      local name = k == "pool" and "size" or k
      t[k] = t[k] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "status_errors": %d, "non200": %d, "replies": %d, ' ..
    '"empty": %d, "repeated": %d, "pool": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean, e.connect,
    e.read, e.write, e.timeout, e.status, t.non200, t.replies, t.empty, t.repeated, t.pool))
end
