# Writes grafana-dashboard.json (run: python3 grafana-dashboard.py). The metric names are those of the
# gateway's GET /metrics (server/src/api/MetricsRegistry.cpp); edit here, not in the JSON.
import json
panels=[]
DS={"type":"prometheus","uid":"${datasource}"}
def ts(title, targets, x, y, w=12, h=8, unit="short", desc=""):
    panels.append({"type":"timeseries","title":title,"description":desc,"datasource":DS,
        "gridPos":{"x":x,"y":y,"w":w,"h":h},"fieldConfig":{"defaults":{"unit":unit},"overrides":[]},
        "options":{"legend":{"displayMode":"list","placement":"bottom"},"tooltip":{"mode":"multi"}},
        "targets":[{"refId":chr(65+i),"expr":e,"legendFormat":l,"datasource":DS} for i,(e,l) in enumerate(targets)]})
def stat(title, expr, x, y, unit="short", desc=""):
    panels.append({"type":"stat","title":title,"description":desc,"datasource":DS,
        "gridPos":{"x":x,"y":y,"w":4,"h":4},"fieldConfig":{"defaults":{"unit":unit},"overrides":[]},
        "options":{"reduceOptions":{"calcs":["lastNotNull"],"fields":"","values":False},"colorMode":"value","graphMode":"area"},
        "targets":[{"refId":"A","expr":expr,"datasource":DS}]})
def s(m, extra=""):
    inner = 'job=~"$job", instance=~"$instance"' + (", " + extra if extra else "")
    return m + "{" + inner + "}"
failed = s("declai_verifications_total", 'outcome="failed"')
stat("Nodes connected", "sum(%s)" % s("declai_nodes_connected"),0,0)
stat("Sessions active", "sum(%s)" % s("declai_sessions_active"),4,0)
stat("Queued requests", "sum(%s)" % s("declai_queue_depth"),8,0)
stat("Tokens / s", "sum(rate(%s[5m]))" % s("declai_tokens_generated_total"),12,0)
stat("TTFT p95", "histogram_quantile(0.95, sum by (le) (rate(%s[5m])))" % s("declai_time_to_first_token_seconds_bucket"),16,0,"s")
stat("Failed verifications (1h)", "sum(increase(%s[1h]))" % failed,20,0,"short",
     "Stages whose re-execution disagreed with the node's answer; the node is quarantined (docs/security.md).")
ts("Nodes per gateway", [("sum by (instance) (%s)" % s("declai_nodes_connected"),"{{instance}}")],0,4,
   desc="Volunteer nodes connected to each gateway replica.")
ts("Sessions and queue", [("sum by (instance) (%s)" % s("declai_sessions_active"),"active {{instance}}"),
                          ("sum by (priority) (%s)" % s("declai_queue_depth"),"queued {{priority}}")],12,4,
   desc="Generations running (at most --max-sessions per gateway) and waiting, by priority class.")
ts("Tokens generated per second", [("sum by (instance) (rate(%s[5m]))" % s("declai_tokens_generated_total"),"{{instance}}")],0,12)
ts("Latency", [
  ("histogram_quantile(0.50, sum by (le) (rate(%s[5m])))" % s("declai_time_to_first_token_seconds_bucket"),"time to first token p50"),
  ("histogram_quantile(0.95, sum by (le) (rate(%s[5m])))" % s("declai_time_to_first_token_seconds_bucket"),"time to first token p95"),
  ("histogram_quantile(0.95, sum by (le) (rate(%s[5m])))" % s("declai_token_latency_seconds_bucket"),"per-token latency p95")],12,12,unit="s")
ts("Requests ended, by outcome", [("sum by (outcome) (rate(%s[5m]))" % s("declai_requests_ended_total"),"{{outcome}}")],0,20,unit="reqps")
ts("HTTP API responses, by route and status", [("sum by (route, status) (rate(%s[5m]))" % s("declai_http_responses_total"),"{{route}} {{status}}")],12,20,unit="reqps")
ts("Failovers and quarantined nodes", [("sum(rate(%s[5m]))" % s("declai_failovers_total"),"failovers / s"),
   ("sum(increase(%s[15m]))" % s("declai_nodes_quarantined_total"),"nodes quarantined (15 min)")],0,28,
   desc="A failover re-routes a session around a failed or slow node; quarantine follows a failed verification.")
ts("Verifications, by outcome", [("sum by (outcome) (rate(%s[5m]))" % s("declai_verifications_total"),"{{outcome}}")],12,28,unit="ops")
ts("Ledger postings, by kind", [("sum by (kind) (rate(%s[5m]))" % s("declai_ledger_postings_total"),"{{kind}}")],0,36,unit="ops",
   desc="Settlements (researchers pay, nodes earn) and releases of holds.")
ts("Connections", [("sum by (instance) (%s)" % s("declai_connections_open"),"open {{instance}}"),
                   ("sum by (instance) (%s)" % s("declai_clients_connected"),"clients {{instance}}"),
                   ("sum by (instance) (rate(%s[5m]))" % s("declai_connections_accepted_total"),"accepted / s {{instance}}")],12,36,
   desc="Open TLS connections (nodes and clients) against --max-connections.")
ts("Hidden states relayed", [("sum by (instance) (rate(%s[5m]))" % s("declai_relayed_bytes_total"),"{{instance}}")],0,44,unit="Bps",
   desc="Bytes of activations the gateway relays between stages: the network capacity a gateway needs.")
ts("Stage hops", [("sum by (instance) (rate(%s[5m]))" % s("declai_stage_hops_total"),"{{instance}}")],12,44,unit="ops")
for i,p in enumerate(panels): p["id"]=i+1
q_job = "label_values(declai_nodes_connected, job)"
q_inst = 'label_values(declai_nodes_connected{job=~"$job"}, instance)'
dash={"title":"DeCLAI gateways","uid":"declai-gateways",
 "description":"The /metrics of declai-server gateways (docs/operations.md, Monitoring). Generated by installers/kubernetes/grafana-dashboard.py.",
 "tags":["declai"],"timezone":"utc","schemaVersion":38,"version":1,"editable":True,
 "time":{"from":"now-6h","to":"now"},"refresh":"30s",
 "templating":{"list":[
   {"name":"datasource","type":"datasource","query":"prometheus","label":"Data source","current":{}},
   {"name":"job","type":"query","label":"Job","datasource":DS,"query":{"query":q_job,"refId":"job"},"definition":q_job,
    "includeAll":True,"multi":True,"allValue":".*","refresh":2,"current":{}},
   {"name":"instance","type":"query","label":"Gateway","datasource":DS,"query":{"query":q_inst,"refId":"instance"},"definition":q_inst,
    "includeAll":True,"multi":True,"allValue":".*","refresh":2,"current":{}}]},
 "annotations":{"list":[]},"panels":panels}
with open("grafana-dashboard.json","w") as f:
    json.dump(dash, f, indent=2)
    f.write("\n")
print(len(panels), "panels")
