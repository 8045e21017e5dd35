{{/*
Names, labels, addresses and checks shared by every template. Helpers take the root context
unless they say otherwise; those that need more take a dict with `root`.
*/}}

{{- define "distillery.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "distillery.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "distillery.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "distillery.labels" -}}
helm.sh/chart: {{ include "distillery.chart" . }}
{{ include "distillery.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: distillery
{{- end }}

{{- define "distillery.selectorLabels" -}}
app.kubernetes.io/name: {{ include "distillery.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* dict root component: the labels of one component's resources. */}}
{{- define "distillery.componentLabels" -}}
{{ include "distillery.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* dict root component: what a component's Service, PDB and NetworkPolicy select. */}}
{{- define "distillery.componentSelectorLabels" -}}
{{ include "distillery.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* dict root component: `<fullname>-<component>`, the name of a component's resources. */}}
{{- define "distillery.componentName" -}}
{{- printf "%s-%s" (include "distillery.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The distillery image. */}}
{{- define "distillery.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The gRPC port of each service. The values of services/distillery/core/ports.py (PORTS) -- the one
place the CLI and the local stack read them from; tests/charts checks every rendered Service,
containerPort and probe against it.
*/}}
{{- define "distillery.ports" -}}
verifier: 50051
registry: 50052
teacher: 50053
trainer: 50055
jobs: 50056
{{- end }}

{{/* dict root component: the component's gRPC port. */}}
{{- define "distillery.port" -}}
{{- index (include "distillery.ports" .root | fromYaml) .component }}
{{- end }}

{{/* dict root component: host:port of a component's Service, fully qualified (gRPC clients do not
all honour resolv.conf search paths); grpcs://host:port with tls.enabled. */}}
{{- define "distillery.address" -}}
{{- printf "%s%s.%s.svc.%s:%s" (include "distillery.grpcScheme" .root) (include "distillery.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (include "distillery.port" .) }}
{{- end }}

{{- define "distillery.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "distillery.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* The three native gRPC probes (grpc.health.v1, open without a token). Kubelet's gRPC probes
cannot speak TLS, so they go to the service's plaintext health-only port (distillery.healthPort,
`--health-port`), whatever port is passed. The startup probe gives slow imports (Ray, torch) two
minutes before liveness counts. */}}
{{- define "distillery.grpcProbes" -}}
startupProbe:
  grpc:
    port: 9465
  periodSeconds: 5
  failureThreshold: 24
readinessProbe:
  grpc:
    port: 9465
  periodSeconds: 10
  failureThreshold: 3
livenessProbe:
  grpc:
    port: 9465
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* /tmp for a read-only root filesystem: HOME, DISTILLERY_HOME and caches point there (Dockerfile). */}}
{{- define "distillery.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "distillery.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* dict root component: a component's ServiceAccount name. */}}
{{- define "distillery.serviceAccountName" -}}
{{- include "distillery.componentName" . }}
{{- end }}

{{/* ---------------------------------------------------------------- secrets */}}

{{/*
dict root namespace name key length [prefix] [fernet]: a generated secret value, the same in every template
of one render (cached in .Values.__generated) and across upgrades (read back with lookup from the
Secret `name` in `namespace`). `helm template` has no cluster: there it is new each time.
*/}}
{{- define "distillery.generated" -}}
{{- $values := .root.Values -}}
{{- if not (hasKey $values "__generated") -}}
{{- $_ := set $values "__generated" dict -}}
{{- end -}}
{{- $cache := get $values "__generated" -}}
{{- $id := printf "%s/%s" .name .key -}}
{{- if not (hasKey $cache $id) -}}
{{- $value := "" -}}
{{- $existing := lookup "v1" "Secret" .namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- $value = index $existing.data .key | b64dec -}}
{{- else -}}
{{- $value = printf "%s%s" (.prefix | default "") (randAlphaNum (.length | int)) -}}
{{- if .fernet -}}{{- /* a Fernet key: url-safe base64 of 32 bytes */ -}}
{{- $value = $value | b64enc | replace "+" "-" | replace "/" "_" -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cache $id $value -}}
{{- end -}}
{{- get $cache $id -}}
{{- end }}

{{/* The admin token (values, or generated). Only with auth.existingSecret unset. */}}
{{- define "distillery.adminToken" -}}
{{- .Values.auth.adminToken | default (include "distillery.generated" (dict "root" . "namespace" .Release.Namespace "name" (include "distillery.adminSecretName" .) "key" "admin-token" "length" 40)) }}
{{- end }}

{{- define "distillery.adminSecretName" -}}
{{- .Values.auth.existingSecret | default (include "distillery.componentName" (dict "root" . "component" "admin")) }}
{{- end }}

{{/* The Secret with the services' S3 credentials (keys access-key, secret-key). */}}
{{- define "distillery.s3SecretName" -}}
{{- if .Values.minio.enabled }}
{{- .Values.minio.existingSecret | default (include "distillery.componentName" (dict "root" . "component" "s3")) }}
{{- else }}
{{- .Values.objectStore.external.existingSecret | default (include "distillery.componentName" (dict "root" . "component" "s3")) }}
{{- end }}
{{- end }}

{{/* Whether the chart renders the S3 Secret itself. */}}
{{- define "distillery.s3SecretManaged" -}}
{{- if .Values.minio.enabled }}{{ if not .Values.minio.existingSecret }}true{{ end }}
{{- else }}{{ if not .Values.objectStore.external.existingSecret }}true{{ end }}
{{- end }}
{{- end }}

{{/* host:port of the object store. */}}
{{- define "distillery.s3Endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "%s.%s.svc.%s:9000" (include "distillery.componentName" (dict "root" . "component" "minio")) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- .Values.objectStore.external.endpoint }}
{{- end }}
{{- end }}

{{- define "distillery.s3Secure" -}}
{{- if or (include "distillery.minioTls" .) (and (not .Values.minio.enabled) .Values.objectStore.external.secure) }}true{{ else }}false{{ end }}
{{- end }}

{{/* Environment with the S3 credentials: the access key as DISTILLERY_S3_ACCESS_KEY (also expanded
into `--s3-access-key=$(DISTILLERY_S3_ACCESS_KEY)`), the secret key as DISTILLERY_S3_SECRET_KEY. */}}
{{- define "distillery.s3Env" -}}
- name: DISTILLERY_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.s3SecretName" . }}
      key: access-key
- name: DISTILLERY_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.s3SecretName" . }}
      key: secret-key
{{- include "distillery.s3CaEnv" . }}
{{- end }}

{{/* The CA the in-chart MinIO's HTTPS certificate is checked against (core.s3.S3Config reads it). */}}
{{- define "distillery.s3CaEnv" -}}
{{- if include "distillery.minioTls" . }}
- name: DISTILLERY_S3_CA_BUNDLE
  value: {{ include "distillery.tlsDir" . }}/ca.crt
{{- end }}
{{- end }}

{{/* `--s3-endpoint ... --s3-access-key ... [--s3-secure]` as container args. */}}
{{- define "distillery.s3Args" -}}
- --s3-endpoint={{ include "distillery.s3Endpoint" . }}
- --s3-access-key=$(DISTILLERY_S3_ACCESS_KEY)
{{- if eq (include "distillery.s3Secure" .) "true" }}
- --s3-secure
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- teams */}}

{{/* dict root team: the team's namespace. */}}
{{- define "distillery.teamNamespace" -}}
{{- if .root.Values.teamNamespaces.enabled }}
{{- .team.namespace | default (printf "%s%s" .root.Values.teamNamespaces.prefix .team.name) }}
{{- else }}
{{- .root.Release.Namespace }}
{{- end }}
{{- end }}

{{/* dict root team: the name of the team's token Secret (the same name in every namespace). */}}
{{- define "distillery.teamSecretName" -}}
{{- .team.existingSecret | default (printf "%s-team-%s" (include "distillery.fullname" .root) .team.name | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "distillery.teamSecretKey" -}}
{{- if .team.existingSecret }}{{ .team.existingSecretKey | default "token" }}{{ else }}token{{ end }}
{{- end }}

{{/* dict root team: the team's token (values, or generated). Only for chart-managed Secrets. */}}
{{- define "distillery.teamToken" -}}
{{- .team.token | default (include "distillery.generated" (dict "root" .root "namespace" .root.Release.Namespace "name" (include "distillery.teamSecretName" .) "key" "token" "length" 43 "prefix" "dst_")) }}
{{- end }}

{{/* dict root team: the team's LocalQueue (Kueue) name: the team's name, in its namespace (what the
jobs controller's kuberay backend labels RayJobs with by default). */}}
{{- define "distillery.localQueueName" -}}
{{- .team.name }}
{{- end }}

{{/* dict root team: the team's ClusterQueue (cluster-scoped, so prefixed with the release). */}}
{{- define "distillery.clusterQueueName" -}}
{{- printf "%s-%s" (include "distillery.fullname" .root) .team.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The namespaces the teams' RayJobs run in, de-duplicated, as a YAML list. */}}
{{- define "distillery.teamNamespaces" -}}
{{- $namespaces := list }}
{{- range .Values.teams }}
{{- $namespaces = append $namespaces (include "distillery.teamNamespace" (dict "root" $ "team" .)) }}
{{- end }}
{{- toYaml (uniq $namespaces) }}
{{- end }}

{{/* ---------------------------------------------------------------- Ray */}}

{{- define "distillery.jobsSecretName" -}}
{{- .Values.jobs.existingSecret | default (include "distillery.componentName" (dict "root" . "component" "jobs")) }}
{{- end }}

{{- define "distillery.rayClusterName" -}}
{{- include "distillery.componentName" (dict "root" . "component" "ray") }}
{{- end }}

{{/* The head Service KubeRay creates for the RayCluster: `<cluster>-head-svc`. */}}
{{- define "distillery.rayHeadHost" -}}
{{- printf "%s-head-svc.%s.svc.%s" (include "distillery.rayClusterName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{- define "distillery.rayAuthSecretName" -}}
{{- .Values.ray.auth.existingSecret | default (include "distillery.componentName" (dict "root" . "component" "ray-auth")) }}
{{- end }}

{{/* Ray token authentication for every process that joins or calls the RayCluster. */}}
{{- define "distillery.rayAuthEnv" -}}
{{- if and .Values.ray.enabled .Values.ray.auth.enabled }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.rayAuthSecretName" . }}
      key: auth_token
{{- end }}
{{- end }}

{{/* The trainer's Ray address: the override, the RayCluster's client port, or none (in-pod Ray). */}}
{{- define "distillery.trainerRayAddress" -}}
{{- if .Values.trainer.rayAddress }}
{{- .Values.trainer.rayAddress }}
{{- else if .Values.ray.enabled }}
{{- printf "ray://%s:10001" (include "distillery.rayHeadHost" .) }}
{{- end }}
{{- end }}

{{/* The jobs controller's Ray address (`ray` backend): the RayCluster's dashboard (job API). */}}
{{- define "distillery.jobsRayAddress" -}}
{{- if .Values.jobs.rayAddress }}
{{- .Values.jobs.rayAddress }}
{{- else if .Values.ray.enabled }}
{{- printf "http://%s:8265" (include "distillery.rayHeadHost" .) }}
{{- end }}
{{- end }}

{{/* dict root size: the /dev/shm volume Ray's object store and NCCL use. */}}
{{- define "distillery.shmVolume" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .size }}
{{- end }}

{{/* Addresses of the services, as the CLI's DISTILLERY_<SERVICE> environment (RayJob stages,
Ray workers): `distillery teacher generate` etc. find the services without flags. */}}
{{- define "distillery.serviceAddressEnv" -}}
{{- $root := . }}
{{- range $component := list "registry" "verifier" "teacher" "trainer" "jobs" }}
{{- if or (ne $component "jobs") $root.Values.jobs.enabled }}
- name: DISTILLERY_{{ upper $component }}
  value: {{ include "distillery.address" (dict "root" $root "component" $component) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The port of every Distillery service's own /metrics (`--metrics-port`): one constant, equal to
distillery.core.ports.METRICS_PORT (a test checks). Each service has its own pod, so they share it. */}}
{{- define "distillery.metricsPort" -}}
9464
{{- end }}

{{/* Scrape annotations of a Distillery service pod (root), merged with its podAnnotations (values). */}}
{{- define "distillery.servicePodAnnotations" -}}
{{- $scrape := include "distillery.scrapeAnnotations" (dict "root" .root "port" (include "distillery.metricsPort" .root) "path" "/metrics") | fromYaml }}
{{- with merge $scrape (.values.podAnnotations | default dict) }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Prometheus scrape annotations, when metrics.podAnnotations (dict root port path). */}}
{{- define "distillery.scrapeAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ .path | quote }}
{{- with .scheme }}
prometheus.io/scheme: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- checks */}}

{{/* Reject contradictory values with a message that names the key to set (rendered once, from
secrets.yaml). values.schema.json checks types and names; these check combinations. */}}
{{- define "distillery.validate" -}}
{{- if not .Values.teams }}
{{- fail "teams: add at least one team -- the verifier, with no egress, accepts only the teams' tokens" }}
{{- end }}
{{- $names := list }}
{{- range .Values.teams }}
{{- if has .name $names }}
{{- fail (printf "teams: team %q is listed twice" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- if and .token .existingSecret }}
{{- fail (printf "teams[%s]: set token or existingSecret, not both" .name) }}
{{- end }}
{{- end }}
{{- if and (not .Values.minio.enabled) (not .Values.objectStore.external.endpoint) }}
{{- fail "objectStore.external.endpoint: set the S3 server's host:port, or minio.enabled=true" }}
{{- end }}
{{- if and (not .Values.minio.enabled) (not .Values.objectStore.external.existingSecret) (or (not .Values.objectStore.external.accessKey) (not .Values.objectStore.external.secretKey)) }}
{{- fail "objectStore.external: set accessKey and secretKey, or existingSecret" }}
{{- end }}
{{- if and .Values.jobs.enabled (eq .Values.jobs.backend "ray") (not (include "distillery.jobsRayAddress" .)) }}
{{- fail "jobs.backend=ray needs a Ray cluster: set ray.enabled=true or jobs.rayAddress (or jobs.backend=kuberay)" }}
{{- end }}
{{- if and .Values.teacherPool.enabled (eq .Values.teacherPool.model.source "pvc") (or (not .Values.teacherPool.model.pvc.claimName) (not .Values.teacherPool.model.pvc.path)) }}
{{- fail "teacherPool.model.pvc: set claimName and path (the model directory in the claim), or model.source=s3" }}
{{- end }}
{{- if and .Values.teacherPool.enabled (eq .Values.teacherPool.model.source "s3") (not .Values.teacherPool.model.s3.prefix) }}
{{- fail "teacherPool.model.s3.prefix: set the key prefix of the model's files" }}
{{- end }}
{{- $studentNames := list }}
{{- range .Values.students }}
{{- if has .name $studentNames }}
{{- fail (printf "students: student %q is listed twice" .name) }}
{{- end }}
{{- $studentNames = append $studentNames .name }}
{{- if not (has .team $names) }}
{{- fail (printf "students[%s].team: %q is not in teams" .name .team) }}
{{- end }}
{{- end }}
{{- range .Values.teams }}
{{- range $flavor, $_ := (.quotas | default dict) }}
{{- $known := list }}
{{- range $.Values.kueue.flavors }}{{ $known = append $known .name }}{{ end }}
{{- if not (has $flavor $known) }}
{{- fail (printf "teams[].quotas.%s: no such flavor in kueue.flavors" $flavor) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* dict root component: the ClusterIP Service in front of a gRPC component. */}}
{{- define "distillery.grpcService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "distillery.componentName" . }}
  labels:
    {{- include "distillery.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "distillery.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ include "distillery.port" . }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ include "distillery.metricsPort" .root }}
      targetPort: metrics
      protocol: TCP
{{- end }}

{{/* dict root values: nodeSelector, tolerations and affinity of a pod spec from a values block. */}}
{{- define "distillery.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The teacher pool's API key Secret, when there is one. */}}
{{- define "distillery.teacherPoolSecretName" -}}
{{- if .Values.teacherPool.enabled }}
{{- if .Values.teacherPool.existingSecret }}
{{- .Values.teacherPool.existingSecret }}
{{- else if .Values.teacherPool.apiKey }}
{{- include "distillery.componentName" (dict "root" . "component" "teacher-pool") }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A Ray pod template (head or worker) for a RayCluster, RayJob or RayService.
dict:
  root, container ("ray-head" / "ray-worker"), head (bool), resources, gpus, shm (sizeLimit),
  env (list of EnvVars), nodeSelector, tolerations, labels, annotations,
  keepServiceAccount (bool: leave the ServiceAccount to KubeRay -- the autoscaling head).
The image is the distillery image (Ray, the distillery package, /bin/bash and wget -- KubeRay's
start command and default probes need both). KubeRay adds the probes; the container runs with the
chart's security context, /tmp and /dev/shm as emptyDirs (Ray's session dir and object store).
*/}}
{{- define "distillery.rayPodTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "distillery.labels" $root | nindent 4 }}
    # Selected by the <fullname>-ray-metrics Service (Ray's metrics port, 8080).
    distillery.io/ray-metrics: "true"
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if not .keepServiceAccount }}
  automountServiceAccountToken: false
  {{- end }}
  enableServiceLinks: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "distillery.podSecurityContext" $root | nindent 4 }}
  containers:
    - name: {{ .container }}
      image: {{ include "distillery.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- /* TLS: the services' CA (gRPC and MinIO), for stage drivers and training/serving workers. */}}
      {{- $env := concat (.env | default list) (include "distillery.tlsClientEnv" $root | fromYamlArray) (include "distillery.s3CaEnv" $root | fromYamlArray) }}
      {{- with $env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .head }}
      ports:
        - {name: gcs-server, containerPort: 6379}
        - {name: dashboard, containerPort: 8265}
        - {name: client, containerPort: 10001}
        - {name: serve, containerPort: 8000}
        - {name: serve-grpc, containerPort: 9000}
        - {name: metrics, containerPort: 8080}
      {{- else }}
      ports:
        - {name: metrics, containerPort: 8080}
      {{- end }}
      resources:
        {{- $resources := deepCopy .resources }}
        {{- if .gpus }}
        {{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" (.gpus | int)) ($resources.limits | default dict)) }}
        {{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" (.gpus | int)) ($resources.requests | default dict)) }}
        {{- end }}
        {{- toYaml $resources | nindent 8 }}
      securityContext:
        {{- include "distillery.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        {{- include "distillery.tmpVolumeMount" $root | nindent 8 }}
        - name: dshm
          mountPath: /dev/shm
        {{- include "distillery.tlsVolumeMount" $root | nindent 8 }}
  volumes:
    {{- include "distillery.tmpVolume" $root | nindent 4 }}
    {{- include "distillery.shmVolume" (dict "size" .shm) | nindent 4 }}
    {{- include "distillery.tlsVolume" (dict "root" $root "full" false) | nindent 4 }}
  {{- with .nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tolerations := .tolerations | default list }}
  {{- if .gpus }}
  {{- $tolerations = append $tolerations (dict "key" "nvidia.com/gpu" "operator" "Exists" "effect" "NoSchedule") }}
  {{- end }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml (uniq .) | nindent 4 }}
  {{- end }}
{{- end }}

{{/* `ray start` parameters every node gets: Ray's metrics on 8080 (scraped by Prometheus). */}}
{{- define "distillery.rayStartParams" -}}
metrics-export-port: "8080"
{{- end }}

{{/* dict root team: the environment of a team's Ray containers (RayJob stages, RayService replicas):
the services' addresses and the team's token (DISTILLERY_TOKEN, which the CLI and app_builder read). */}}
{{- define "distillery.teamRayEnv" -}}
{{- include "distillery.serviceAddressEnv" .root }}
- name: DISTILLERY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.teamSecretName" . }}
      key: {{ include "distillery.teamSecretKey" . }}
{{- end }}

{{/* ---------------------------------------------------------------- TLS */}}

{{/*
TLS (tls.enabled, the default): every gRPC service serves TLS with the Secret tls.secretName
(tls.crt, tls.key, ca.crt -- e.g. a cert-manager Certificate), every in-cluster address is
grpcs://, MinIO serves HTTPS with the same certificate. The services' pods mount the whole Secret;
pods that run team code (Ray) get ca.crt only -- never the services' private key -- unless
tls.clientAuth needs them to present a certificate.
*/}}
{{- define "distillery.tlsSecretName" -}}
{{- .Values.tls.secretName | default (include "distillery.componentName" (dict "root" . "component" "tls")) }}
{{- end }}

{{- define "distillery.tlsDir" -}}
/etc/distillery/tls
{{- end }}

{{/* The plaintext grpc.health.v1-only port of every service (kubelet's gRPC probes cannot speak
TLS): one constant, equal to distillery.core.ports.HEALTH_PORT (a test checks). */}}
{{- define "distillery.healthPort" -}}
9465
{{- end }}

{{/* dict root full: the TLS Secret as a volume (full: certificate and key too). */}}
{{- define "distillery.tlsVolume" -}}
{{- if .root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "distillery.tlsSecretName" .root }}
    defaultMode: 0440
    {{- if not (or .full .root.Values.tls.clientAuth) }}
    items:
      - {key: ca.crt, path: ca.crt}
    {{- end }}
{{- end }}
{{- end }}

{{- define "distillery.tlsVolumeMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "distillery.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* A service's own arguments: the health port, and with TLS its certificate, the CA it verifies
the services it calls with, and with tls.clientAuth the client side of mTLS. */}}
{{- define "distillery.serviceTlsArgs" -}}
- --health-port={{ include "distillery.healthPort" . }}
{{- if .Values.tls.enabled }}
{{- $dir := include "distillery.tlsDir" . }}
- --tls-cert={{ $dir }}/tls.crt
- --tls-key={{ $dir }}/tls.key
- --tls-ca={{ $dir }}/ca.crt
{{- if .Values.tls.clientAuth }}
- --tls-client-ca={{ $dir }}/ca.crt
- --tls-client-cert={{ $dir }}/tls.crt
- --tls-client-key={{ $dir }}/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* TLS client settings as environment (Ray pods, the bootstrap Job): what the CLI and the SDKs read. */}}
{{- define "distillery.tlsClientEnv" -}}
{{- if .Values.tls.enabled }}
{{- $dir := include "distillery.tlsDir" . }}
- name: DISTILLERY_TLS_CA
  value: {{ $dir }}/ca.crt
{{- if .Values.tls.clientAuth }}
- name: DISTILLERY_TLS_CLIENT_CERT
  value: {{ $dir }}/tls.crt
- name: DISTILLERY_TLS_CLIENT_KEY
  value: {{ $dir }}/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the in-chart MinIO serves HTTPS. */}}
{{- define "distillery.minioTls" -}}
{{- if and .Values.minio.enabled .Values.tls.enabled }}true{{ end }}
{{- end }}

{{/* The address scheme of in-cluster gRPC addresses. */}}
{{- define "distillery.grpcScheme" -}}
{{- if .Values.tls.enabled }}grpcs://{{ end }}
{{- end }}
