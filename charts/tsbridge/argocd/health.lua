-- tsbridge: Argo CD health for kstatus-compatible status (Ready / Reconciling / Stalled).
local hs = { status = "Progressing", message = "Waiting for tsbridge to observe the latest generation" }
if obj.status == nil or obj.status.observedGeneration == nil then
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local ready, reconciling, stalled
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then ready = c
    elseif c.type == "Reconciling" then reconciling = c
    elseif c.type == "Stalled" then stalled = c end
  end
end
local function text(c)
  if c.message ~= nil and c.message ~= "" then return c.message end
  if c.reason ~= nil then return c.reason end
  return ""
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled)
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.message = text(reconciling)
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
elseif ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"   -- unreachable while R-A3 (b) holds
  hs.message = text(ready)
elseif ready ~= nil then
  hs.message = text(ready)
end
return hs
