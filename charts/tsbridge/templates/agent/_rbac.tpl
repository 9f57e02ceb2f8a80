{{/* The agent's ServiceAccount: agent.serviceAccount.name, else <fullname>-agent. */}}
{{- define "tsbridge.agent.serviceAccountName" -}}
{{- default (printf "%s-agent" (include "tsbridge.fullname" .)) .Values.agent.serviceAccount.name }}
{{- end }}

{{/* The Secret with the webhook's tls.crt and tls.key (the agent mounts it). */}}
{{- define "tsbridge.agent.webhookSecretName" -}}
{{- $tls := .Values.agent.webhook.tls }}
{{- if eq $tls.mode "external" }}
{{- required "agent.webhook.tls.external.secretName is required when agent.webhook.tls.mode=external: name the Secret in the release namespace that holds the webhook's tls.crt and tls.key" $tls.external.secretName }}
{{- else if or (eq $tls.mode "helm") (eq $tls.mode "certManager") }}
{{- printf "%s-agent-webhook-tls" (include "tsbridge.fullname" .) }}
{{- else }}
{{- fail (printf "agent.webhook.tls.mode is %q; use helm, certManager or external" $tls.mode) }}
{{- end }}
{{- end }}

{{/* The agent's Service, which the webhook configuration calls and the certificate names. */}}
{{- define "tsbridge.agent.webhook.serviceName" -}}
{{- printf "%s-agent" (include "tsbridge.fullname" .) }}
{{- end }}

{{/* The cert-manager Certificate of certManager mode. */}}
{{- define "tsbridge.agent.webhook.certificateName" -}}
{{- printf "%s-agent-webhook" (include "tsbridge.fullname" .) }}
{{- end }}

{{/* The DNS names the apiserver may dial the Service by. */}}
{{- define "tsbridge.agent.webhook.dnsNames" -}}
{{- $svc := include "tsbridge.agent.webhook.serviceName" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
Our API groups and their resources (from the shipped CRDs), as JSON {group: [plural...]}, so
RBAC and the webhook rules list exactly what the chart installs.
*/}}
{{- define "tsbridge.agent.crdResources" -}}
{{- $groups := dict }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $crd := fromYaml ($.Files.Get $path) }}
{{- $plurals := get $groups $crd.spec.group | default (list) }}
{{- $_ := set $groups $crd.spec.group (append $plurals $crd.spec.names.plural | sortAlpha) }}
{{- end }}
{{- if not $groups }}
{{- fail "the chart has no files/crds/*.yaml: the agent's RBAC and webhook rules are derived from them" }}
{{- end }}
{{- toJson $groups }}
{{- end }}

{{/*
The direct-mode Istio kinds (the model's catalogue, src/model/kind.rs): the agent watches those
labelled istio.io/rev: tsb and writes the generated ones. JSON {group: [plural...]}.
*/}}
{{- define "tsbridge.agent.istioResources" -}}
{{- dict
  "networking.istio.io" (list "destinationrules" "envoyfilters" "gateways" "serviceentries" "sidecars" "virtualservices")
  "security.istio.io" (list "authorizationpolicies" "peerauthentications" "requestauthentications")
  "extensions.istio.io" (list "wasmplugins")
  | toJson }}
{{- end }}

{{/*
helm mode: {"ca.crt", "tls.crt", "tls.key"} (base64). The existing Secret is reused, so an
upgrade keeps the certificate and the caBundle; otherwise a CA and serving certificate are made.
Memoised in .Values so the Secret and the webhook's caBundle of one render agree.
*/}}
{{- define "tsbridge.agent.webhook.helmTLS" -}}
{{- $tls := .Values.agent.webhook.tls }}
{{- if not (hasKey $tls "_rendered") }}
{{- $name := include "tsbridge.agent.webhookSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
{{- $data := dict }}
{{- if and $existing $existing.data (index $existing.data "ca.crt") (index $existing.data "tls.crt") (index $existing.data "tls.key") }}
{{- $data = pick $existing.data "ca.crt" "tls.crt" "tls.key" }}
{{- else }}
{{- $svc := include "tsbridge.agent.webhook.serviceName" . }}
{{- $ca := genCA (printf "%s-webhook-ca" $svc) 3650 }}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) nil (include "tsbridge.agent.webhook.dnsNames" . | fromJsonArray) 3650 $ca }}
{{- $data = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) }}
{{- end }}
{{- $_ := set $tls "_rendered" $data }}
{{- end }}
{{- toJson $tls._rendered }}
{{- end }}
