{{/* Resource names: the chart's name unless fullnameOverride. */}}
{{- define "kompliance.fullname" -}}
{{- default .Chart.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kompliance.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kompliance.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: the same as deploy/ uses. */}}
{{- define "kompliance.selectorLabels" -}}
app.kubernetes.io/name: kompliance
{{- end -}}

{{- define "kompliance.labels" -}}
{{ include "kompliance.selectorLabels" . }}
app.kubernetes.io/part-of: kompliance
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kompliance.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* The ComplianceConfig: `config:` with `azure:` filled from the azure values when enabled. */}}
{{- define "kompliance.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.azure.enabled -}}
{{- $az := dict -}}
{{- with .Values.azure.subscriptionId }}{{ $_ := set $az "subscriptionId" . }}{{ end -}}
{{- with .Values.azure.clusterResourceGroup }}{{ $_ := set $az "clusterResourceGroup" . }}{{ end -}}
{{- with .Values.azure.clusterName }}{{ $_ := set $az "clusterName" . }}{{ end -}}
{{- with .Values.azure.registries }}{{ $_ := set $az "resourceGroups" . }}{{ end -}}
{{- $_ := set $cfg "azure" (merge $az (default dict $cfg.azure)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
