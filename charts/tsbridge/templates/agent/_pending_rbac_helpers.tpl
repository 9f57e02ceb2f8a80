{{- /*
TEMPORARY, delete when merging branch `rbac`: its templates/agent/_rbac.tpl defines these two
helpers (same contract, see helpers/common.md). They exist here only so the chart branch renders
on its own.
*/ -}}
{{- define "tsbridge.agent.serviceAccountName" -}}
{{- default (printf "%s-agent" (include "tsbridge.fullname" .)) .Values.agent.serviceAccount.name }}
{{- end }}

{{- define "tsbridge.agent.webhookSecretName" -}}
{{- if eq .Values.agent.webhook.tls.mode "external" }}
{{- .Values.agent.webhook.tls.external.secretName }}
{{- else }}
{{- printf "%s-agent-webhook-tls" (include "tsbridge.fullname" .) }}
{{- end }}
{{- end }}
