{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "tsbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped full name. */}}
{{- define "tsbridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tsbridge.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tsbridge.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "tsbridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tsbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the agent's pods (also on every agent object). */}}
{{- define "tsbridge.agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tsbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{/* Selector labels of the management plane's pods (also on every server object). */}}
{{- define "tsbridge.server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tsbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels of a component's objects; call with (dict "root" $ "component" "agent"). */}}
{{- define "tsbridge.componentLabels" -}}
{{ include "tsbridge.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of a component; call with (dict "root" $ "component" "agent"). */}}
{{- define "tsbridge.componentSelectorLabels" -}}
{{- include (printf "tsbridge.%s.selectorLabels" .component) .root }}
{{- end }}

{{/* The container image; an empty tag means the chart's appVersion. */}}
{{- define "tsbridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The binary's --log-level is a tracing filter: a bare level applies to tsbridge and keeps its
dependencies at warn; anything else (e.g. `tsbridge=debug,kube=info`) is passed unchanged.
*/}}
{{- define "tsbridge.logFilter" -}}
{{- if has . (list "trace" "debug" "info" "warn" "error") }}
{{- printf "tsbridge=%s,warn" . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
Hardened pod securityContext with the component's podSecurityContext merged over it. Call with
(dict "override" .Values.agent.podSecurityContext "fsGroup" true|false).
*/}}
{{- define "tsbridge.podSecurityContext" -}}
{{- $hardened := dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532 "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- if .fsGroup }}
{{- $_ := set $hardened "fsGroup" 65532 }}
{{- end }}
{{- toYaml (mergeOverwrite $hardened (deepCopy .override)) }}
{{- end }}

{{/* Hardened container securityContext with the component's securityContext merged over it. */}}
{{- define "tsbridge.containerSecurityContext" -}}
{{- $hardened := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) }}
{{- toYaml (mergeOverwrite $hardened (deepCopy .)) }}
{{- end }}

{{/* Liveness and readiness probes on the admin port. */}}
{{- define "tsbridge.probes" -}}
livenessProbe:
  httpGet:
    path: /live
    port: admin
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /ready
    port: admin
  periodSeconds: 5
  failureThreshold: 2
{{- end }}

{{/* nodeSelector, tolerations, affinity and imagePullSecrets of a pod; call with the component's values and the root. */}}
{{- define "tsbridge.podPlacement" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
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

{{/*
A component's PodDisruptionBudget (exactly one of minAvailable / maxUnavailable). Call with
(dict "root" $ "component" "agent" "values" .Values.agent).
*/}}
{{- define "tsbridge.podDisruptionBudget" -}}
{{- $pdb := .values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- $min := $pdb.minAvailable }}
{{- $max := $pdb.maxUnavailable }}
{{- if and (not (kindIs "invalid" $min)) (not (kindIs "invalid" $max)) }}
{{- fail (printf "%s.podDisruptionBudget: set minAvailable or maxUnavailable, not both (a PodDisruptionBudget allows only one); unset one of them" .component) }}
{{- end }}
{{- if and (kindIs "invalid" $min) (kindIs "invalid" $max) }}
{{- fail (printf "%s.podDisruptionBudget.enabled is true but neither minAvailable nor maxUnavailable is set; set one, e.g. %s.podDisruptionBudget.maxUnavailable=1" .component .component) }}
{{- end }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tsbridge.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tsbridge.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $min) }}
  minAvailable: {{ $min }}
  {{- else }}
  maxUnavailable: {{ $max }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "tsbridge.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
A component's ServiceMonitor scraping /metrics on the Service's admin port. Call with
(dict "root" $ "component" "agent" "values" .Values.agent).
*/}}
{{- define "tsbridge.serviceMonitor" -}}
{{- $monitor := .values.serviceMonitor }}
{{- if $monitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "tsbridge.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tsbridge.componentLabels" . | nindent 4 }}
    {{- with $monitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "tsbridge.componentSelectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .root.Release.Namespace }}
  endpoints:
    - port: admin
      path: /metrics
      interval: {{ $monitor.interval }}
{{- end }}
{{- end }}
