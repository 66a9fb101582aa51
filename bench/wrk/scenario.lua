-- One benchmark scenario for wrk, configured by environment variables (bench/run.py sets them).
--
-- BENCH_METHOD, BENCH_PATH   the request
-- BENCH_AUTH                 a bearer token for the Authorization header (optional)
-- BENCH_POOL                 a file of JSON request bodies, one a line (optional)
-- BENCH_POOL_MODE            "once": each body is sent once (refresh tokens, codes);
--                            "cycle": bodies are reused in turn (logins)
-- BENCH_POOL_START           the first line to use (0-based): what earlier runs used is skipped
-- BENCH_THREADS              wrk's -t, so that each thread takes its own lines
-- BENCH_RESULT               where done() writes the figures as JSON
--
-- Every response outside 2xx is counted (wrk alone counts only 4xx and 5xx), and the
-- first one's status and body are kept to say what went wrong. A "once" pool that runs
-- dry stops the thread and says so, instead of replaying a body.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local auth = os.getenv("BENCH_AUTH")
local pool_file = os.getenv("BENCH_POOL")
local pool_mode = os.getenv("BENCH_POOL_MODE") or "cycle"
local pool_start = tonumber(os.getenv("BENCH_POOL_START") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local result_file = os.getenv("BENCH_RESULT")

local headers = {}
if auth and auth ~= "" then
  headers["Authorization"] = "Bearer " .. auth
end

-- In the main state: the threads, to add up their counters at the end.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- In each thread's state.
local bodies = {}
local next_body = 1
local requests_static = nil
handed = 0
non2xx = 0
exhausted = false
first_error = nil

function init(args)
  if pool_file and pool_file ~= "" then
    local line_number = 0
    for line in io.lines(pool_file) do
      if line_number >= pool_start and (line_number - pool_start) % nthreads == id then
        table.insert(bodies, line)
      end
      line_number = line_number + 1
    end
    headers["Content-Type"] = "application/json"
  else
    requests_static = wrk.format(method, path, headers)
  end
end

function request()
  if requests_static then
    return requests_static
  end
  if next_body > #bodies then
    if pool_mode == "once" then
      exhausted = true
      wrk.thread:stop()
      next_body = #bodies
    else
      next_body = 1
    end
  end
  local body = bodies[next_body]
  next_body = next_body + 1
  handed = handed + 1
  return wrk.format(method, path, headers, body)
end

function response(status, response_headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == nil then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function json_string(value)
  if value == nil then
    return "null"
  end
  return '"' .. string.gsub(value, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local total_non2xx, most_handed, sent, any_exhausted, error_seen = 0, 0, 0, false, nil
  for _, thread in ipairs(threads) do
    total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
    most_handed = math.max(most_handed, thread:get("handed") or 0)
    sent = sent + (thread:get("handed") or 0)
    any_exhausted = any_exhausted or thread:get("exhausted")
    error_seen = error_seen or thread:get("first_error")
  end
  local errors = summary.errors
  local out = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}, '
      .. '"pool_used": %d, "sent": %d, "pool_exhausted": %s, "first_error": %s}',
    summary.requests, summary.duration, summary.bytes, total_non2xx,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    most_handed * nthreads, sent, tostring(any_exhausted), json_string(error_seen)
  )
  if result_file and result_file ~= "" then
    local file = assert(io.open(result_file, "w"))
    file:write(out)
    file:close()
  end
  io.write(out .. "\n")
end
