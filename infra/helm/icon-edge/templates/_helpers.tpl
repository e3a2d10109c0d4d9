{{- define "icon-edge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "icon-edge.baseLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The edge pods only: the optional Redis pods share the base labels. */}}
{{- define "icon-edge.selectorLabels" -}}
{{ include "icon-edge.baseLabels" . }}
app.kubernetes.io/component: edge
{{- end -}}

{{- define "icon-edge.labels" -}}
{{ include "icon-edge.baseLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "icon-edge.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.redis.enabled -}}
{{- $_ := set $cfg "redis" (dict "url" (default (printf "redis://%s-redis:6379/0" (include "icon-edge.fullname" .)) .Values.redis.url)) -}}
{{- else if .Values.redis.url -}}
{{- $_ := set $cfg "redis" (dict "url" .Values.redis.url) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
