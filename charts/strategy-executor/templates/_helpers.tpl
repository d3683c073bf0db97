{{/* Release-scoped name, DNS-1123 safe. */}}
{{- define "strategy-executor.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strategy-executor.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "strategy-executor.labels" -}}
{{ include "strategy-executor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stratops
{{- /* A version built by source-controller may carry "+<revision>"; labels take no "+" (as helm create does). */}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
stratops.io/tenant: {{ .Values.strategy.tenant | quote }}
stratops.io/strategy: {{ .Values.strategy.name | quote }}
{{- end -}}

{{- define "strategy-executor.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if hasPrefix "sha256:" $tag -}}
{{ .Values.image.repository }}@{{ $tag }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "strategy-executor.codeConfigMap" -}}
{{- .Values.code.configMap | default (printf "%s-code" (include "strategy-executor.fullname" .)) -}}
{{- end -}}

{{/* The executor's configuration file (docs/internals.md). */}}
{{- define "strategy-executor.executorConfig" -}}
{{- $p := .Values.platform -}}
{{- $svc := printf "%s.svc.cluster.local" $p.namespace -}}
{{- dict
  "apiVersion" "stratops.io/v1"
  "kind" "ExecutorConfig"
  "strategy" .Values.strategy
  "code" (dict "dir" "/opt/stratops/code" "file" .Values.code.file "class" .Values.code.class "sha256" .Values.code.sha256)
  "subscriptions" .Values.subscriptions
  "params" .Values.params
  "feed" (dict "endpoint" (printf "tcp://%s.%s:%d" $p.feed.service $svc (int $p.feed.port)))
  "sink" (dict "endpoint" (printf "tcp://%s.%s:%d" $p.sink.service $svc (int $p.sink.port)))
  "http" (dict "port" (int .Values.executor.port))
  "stateDir" "/var/lib/stratops/state"
  "limits" (dict "cpu" (toString .Values.resources.cpu) "memory" (toString .Values.resources.memory) "handlerTimeoutSeconds" .Values.executor.handlerTimeoutSeconds "maxConsecutiveErrors" .Values.executor.maxConsecutiveErrors)
  | toPrettyJson -}}
{{- end -}}
