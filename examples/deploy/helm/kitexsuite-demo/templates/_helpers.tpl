{{/*
The three services of the chain and what each does: the port its clients
use (rpc 8888, or http 8080 for the gateway), whether it resolves others
(gateway → orders → inventory) and whether it registers itself (the Kitex
servers). Services keep these names whatever the release is called: the
Kubernetes resolver dials "<service>.<namespace>:8888".
*/}}
{{- define "kitexsuite-demo.services" -}}
gateway:
  portName: http
  port: 8080
  resolves: true
  registers: false
orders:
  portName: rpc
  port: 8888
  resolves: true
  registers: true
inventory:
  portName: rpc
  port: 8888
  resolves: false
  registers: true
{{- end }}

{{/* The services in chain order, for range. */}}
{{- define "kitexsuite-demo.serviceNames" -}}
gateway orders inventory
{{- end }}

{{- define "kitexsuite-demo.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. Call with (dict "root" $ "name" NAME): NAME is the
service (or the chart's name for objects shared by services).
*/}}
{{- define "kitexsuite-demo.labels" -}}
helm.sh/chart: {{ include "kitexsuite-demo.chart" .root }}
{{ include "kitexsuite-demo.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kitexsuite
{{- end }}

{{/* Selector labels of a service: (dict "root" $ "name" SERVICE). */}}
{{- define "kitexsuite-demo.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* The image of a service: (dict "root" $ "name" SERVICE). */}}
{{- define "kitexsuite-demo.image" -}}
{{- $img := (index .root.Values .name).image -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) $img.repository $tag -}}
{{- end }}

{{/* Whether discovery goes through Kubernetes: "true" or "". */}}
{{- define "kitexsuite-demo.k8s" -}}
{{- if eq .Values.registry.type "k8s" }}true{{ end -}}
{{- end }}
