-- wrk script: every request carries the next token of a file, as "Authorization: Bearer" or as
-- the __session cookie (with __client_uat), or carries nothing (the unprotected baseline still
-- pays for the same Lua work so ratios compare like with like).
--   wrk ... -s bench/rotate.lua URL -- MODE FILE [CLIENT_UAT]     MODE: bearer | cookie | basic | none
-- Threads start at different offsets so no two send the same token at the same time.
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

local toks, n, i, hdrs, mode, uat
function init(args)
    mode, uat = args[1], args[3]
    toks = {}
    for line in io.lines(args[2]) do
        if #line > 0 then toks[#toks + 1] = line end
    end
    n = #toks
    i = math.floor(n * (id or 0) / 2) % n -- wrk -t2: the two threads half a cycle apart
    hdrs = {}
end

function request()
    i = i % n + 1
    if mode == "bearer" then
        hdrs["Authorization"] = "Bearer " .. toks[i]
    elseif mode == "cookie" then
        hdrs["Cookie"] = "__session=" .. toks[i] .. "; __client_uat=" .. uat
    elseif mode == "basic" then
        -- httpd's own Basic auth (mod_authn_anon, any user): the token rides along unread
        hdrs["Authorization"] = "Basic YmVuY2g6eA=="
        hdrs["X-Token"] = toks[i]
    else
        hdrs["X-Token"] = toks[i]
    end
    return wrk.format("GET", nil, hdrs)
end
