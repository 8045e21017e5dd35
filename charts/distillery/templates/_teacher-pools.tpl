{{/*
The teacher service's pools: the vLLM teacher pool (when enabled) plus teacher.pools, as a JSON list
of {name, baseUrl, models, teams, secret, secretKey, port, egress, inCluster, limits}. Teams pick a
pool by name; its URL and key stay with the teacher service (issue: a job's free endpoint received
the platform's key). Checked here: names, key sources, and (with the NetworkPolicy) where each
pool may be reached.
*/}}
{{- define "distillery.teacherPools" -}}
{{- $root := . }}
{{- $pools := list }}
{{- if .Values.teacherPool.enabled }}
{{- $host := printf "%s.%s.svc.%s" (include "distillery.componentName" (dict "root" . "component" "teacher-pool")) .Release.Namespace .Values.clusterDomain }}
{{- $pools = append $pools (dict "name" .Values.teacherPool.poolName "baseUrl" (printf "http://%s:8000/v1" $host)
      "models" (list .Values.teacherPool.model.name) "teams" (.Values.teacherPool.teams | default list)
      "secret" (include "distillery.teacherPoolSecretName" .) "secretKey" "api-key" "port" 8000
      "egress" list "inCluster" true "limits" dict) }}
{{- end }}
{{- range .Values.teacher.pools }}
{{- if and .apiKey .existingSecret }}
{{- fail (printf "teacher.pools[%s]: give apiKey or existingSecret, not both" .name) }}
{{- end }}
{{- $secret := .existingSecret | default "" }}
{{- $key := .existingSecretKey | default "api-key" }}
{{- if .apiKey }}
{{- $secret = include "distillery.teacherPoolsSecretName" $root }}
{{- $key = .name }}
{{- end }}
{{- $url := urlParse .baseUrl }}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" }}
{{- $port = ternary (atoi $port) (ternary 443 80 (eq $url.scheme "https")) (ne $port "") }}
{{- if and $root.Values.teacher.networkPolicy.enabled (not .egress) }}
{{- fail (printf "teacher.pools[%s].egress: list the NetworkPolicy peers the teacher may reach %s at (e.g. [{ipBlock: {cidr: 203.0.113.10/32}}]), or set teacher.networkPolicy.enabled=false" .name .baseUrl) }}
{{- end }}
{{- $limits := dict }}
{{- $given := . }}
{{- range $from, $to := dict "concurrency" "concurrency" "requestsPerSecond" "requests_per_second" "maxRetries" "max_retries" "timeoutSeconds" "timeout_s" }}
{{- if hasKey $given $from }}{{- $_ := set $limits $to (get $given $from) }}{{- end }}
{{- end }}
{{- $pools = append $pools (dict "name" .name "baseUrl" .baseUrl "models" .models "teams" (.teams | default list)
      "secret" $secret "secretKey" $key "port" $port "egress" .egress "inCluster" false "limits" $limits) }}
{{- end }}
{{- $seen := dict }}
{{- range $pools }}
{{- if hasKey $seen .name }}
{{- fail (printf "teacher.pools: the pool name %q is used twice (teacherPool.poolName counts too)" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- toJson $pools }}
{{- end }}

{{/* The Secret the chart makes for pools given an apiKey in values. */}}
{{- define "distillery.teacherPoolsSecretName" -}}
{{- include "distillery.componentName" (dict "root" . "component" "teacher-pools") }}
{{- end }}

{{/* Where the teacher reads pool keys: one file per pool, named after it. */}}
{{- define "distillery.teacherPoolKeysDir" -}}
/var/run/secrets/distillery/teacher-pools
{{- end }}

{{/* The teacher service's --config (JSON): pools with the file of their key, never the key. */}}
{{- define "distillery.teacherConfig" -}}
{{- $keys := include "distillery.teacherPoolKeysDir" . }}
{{- $pools := list }}
{{- range include "distillery.teacherPools" . | fromJsonArray }}
{{- $pool := merge (dict "name" .name "base_url" .baseUrl "models" .models "teams" .teams) .limits }}
{{- if .secret }}
{{- $_ := set $pool "api_key_file" (printf "%s/%s" $keys .name) }}
{{- end }}
{{- $pools = append $pools $pool }}
{{- end }}
{{- $team := .Values.teacher.teamEndpoints }}
{{- toPrettyJson (dict "pools" $pools "team_endpoints" (dict "enabled" $team.enabled "allowed_hosts" ($team.allowedHosts | default list) "teams" ($team.teams | default list))) }}
{{- end }}
