-- chat.lua — wrk script: POSTs a realistic ~1 KB request.
-- BENCH_MODEL sets "model" (the gateway's group name), BENCH_STREAM=1 asks for
-- a stream, BENCH_API says which API the body is written for: chat (OpenAI
-- chat completions, the default), messages (Anthropic's Messages API) or
-- responses (OpenAI's Responses API) — the same conversation in each shape.
-- BENCH_KEYS_FILE names a file of bearer keys, one a line: the requests then
-- take them in turn (prepared once, so the load generator's cost does not
-- change).  done() prints one machine-readable line for the bench scripts:
--   BENCH requests=N duration_us=D errors=E non2xx=X p50_us=.. p99_us=..
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local stream = os.getenv("BENCH_STREAM") == "1"
local api = os.getenv("BENCH_API") or "chat"

local system = 'You are a concise assistant for a logistics company. Answer in plain English, ' ..
  'cite the shipment identifiers you were given, and never invent tracking numbers or delivery dates.'
local user1 = 'Shipment SH-20931 left the Rotterdam hub on Monday and was scanned in Duisburg on ' ..
  'Tuesday evening. Shipment SH-20932 has not been scanned since it left Antwerp. The customer asks whether both ' ..
  'parcels will arrive in Munich before Friday noon.'
local assistant = 'SH-20931 is on its usual route and should reach Munich on Thursday. SH-20932 has ' ..
  'no scan after Antwerp, so I cannot promise a date for it yet.'
local user2 = 'Please draft a short, friendly message to the customer that explains this, suggests ' ..
  'that we open a trace for SH-20932 today, and asks whether a partial delivery on Thursday would be acceptable. ' ..
  'Keep it under eighty words.'
local head = '{"model":"' .. model .. '","stream":' .. (stream and "true" or "false") .. ',"temperature":0.2,'
local turns = '{"role":"user","content":"' .. user1 .. '"},{"role":"assistant","content":"' .. assistant ..
  '"},{"role":"user","content":"' .. user2 .. '"}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"
if api == "messages" then
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.body = head .. '"max_tokens":256,"system":"' .. system .. '","messages":[' .. turns .. ']}'
elseif api == "responses" then
  wrk.body = head .. '"max_output_tokens":256,"instructions":"' .. system .. '","input":[' .. turns .. ']}'
else
  wrk.body = head .. '"max_tokens":256,"messages":[{"role":"system","content":"' .. system .. '"},' .. turns .. ']}'
end

local prepared = nil
local next_request = 0
local keys_file = os.getenv("BENCH_KEYS_FILE")

-- Defined only with keys: without a request() wrk sends its static request.
if keys_file and #keys_file > 0 then
  function init(args)
    prepared = {}
    for key in io.lines(keys_file) do
      if #key > 0 then
        prepared[#prepared + 1] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. key })
      end
    end
  end

  function request()
    next_request = next_request % #prepared + 1
    return prepared[next_request]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
