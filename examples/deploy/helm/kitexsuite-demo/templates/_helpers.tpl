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

{{/*
The name of a namespaced object the release shares among its services
(Roles, RoleBindings): (dict "root" $ "suffix" SUFFIX) gives
"<release>-SUFFIX", the release part shortened so the whole fits 63
characters and two suffixes never collide.
*/}}
{{- define "kitexsuite-demo.releaseName" -}}
{{- $max := sub 62 (len .suffix) | int -}}
{{- printf "%s-%s" (.root.Release.Name | trunc $max | trimSuffix "-") .suffix -}}
{{- end }}

{{/*
The name of a cluster-scoped object of the release: release and namespace
both, as a release name is unique only within its namespace.
*/}}
{{- define "kitexsuite-demo.clusterName" -}}
{{- printf "%s-%s-%s" .root.Release.Name .root.Release.Namespace .suffix -}}
{{- end }}

{{/*
Whether the ValidatingAdmissionPolicy that keeps the servers to their own
pod's status is rendered: "true" or "". Only with the Kubernetes registry
(the only one that patches pods/status). rbac.ownPodStatusPolicy auto asks
the API server whether it serves admissionregistration.k8s.io/v1
ValidatingAdmissionPolicy. Without one (helm template), Helm's built-in
list has API groups but no kinds ("v1/Pod" is missing); then the
Kubernetes version decides: the v1 API is GA and on from 1.30.
*/}}
{{- define "kitexsuite-demo.ownPodStatusPolicy" -}}
{{- $want := toString .Values.rbac.ownPodStatusPolicy -}}
{{- $caps := .Capabilities -}}
{{- $served := $caps.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy" -}}
{{- if not ($caps.APIVersions.Has "v1/Pod") -}}
{{- $served = semverCompare ">=1.30-0" $caps.KubeVersion.Version -}}
{{- end -}}
{{- if and (include "kitexsuite-demo.k8s" .) (or (eq $want "true") (and (eq $want "auto") $served)) }}true{{ end -}}
{{- end }}

{{/*
How long a service may take from SIGTERM to exit, in whole seconds, before
the margin: (dict "root" $ "name" SERVICE). Its registry's deregistration
at worst — k8s: the drain timeout bounds the readiness-gate patch and the
wait for the EndpointSlices; etcd: the lease revoke, 3 s; consul: the
maintenance and deregister calls, 3 s each (registry/etcd and
registry/consul bound each request at 3 s) — then the drain delay, then
Kitex's exit wait. The gateway registers nothing: drain delay and exit wait.
*/}}
{{- define "kitexsuite-demo.stopSeconds" -}}
{{- $sd := .root.Values.shutdown -}}
{{- add (include "kitexsuite-demo.deregisterSeconds" .) $sd.drainDelaySeconds $sd.exitWaitSeconds -}}
{{- end }}

{{/* The deregistration part of stopSeconds: (dict "root" $ "name" SERVICE). */}}
{{- define "kitexsuite-demo.deregisterSeconds" -}}
{{- $svc := index (include "kitexsuite-demo.services" .root | fromYaml) .name -}}
{{- if $svc.registers -}}
{{- get (dict "k8s" (int .root.Values.shutdown.drainTimeoutSeconds) "etcd" 3 "consul" 6) .root.Values.registry.type -}}
{{- else -}}
0
{{- end -}}
{{- end }}

{{/*
The margin above stopSeconds: the span flush at exit (bounded at 3 s in
the binaries) and the process' own exit.
*/}}
{{- define "kitexsuite-demo.graceMarginSeconds" -}}5{{- end }}

{{/*
terminationGracePeriodSeconds of a service: (dict "root" $ "name"
SERVICE). The value when set, which must cover stopSeconds plus the
margin (the chart fails otherwise); null: exactly that.
*/}}
{{- define "kitexsuite-demo.gracePeriod" -}}
{{- $min := add (include "kitexsuite-demo.stopSeconds" .) (include "kitexsuite-demo.graceMarginSeconds" .) -}}
{{- $set := .root.Values.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- $min -}}
{{- else if lt (int $set) (int $min) -}}
{{- $sd := .root.Values.shutdown -}}
{{- fail (printf "terminationGracePeriodSeconds %d is below what %s may need to stop on registry %s: deregistration %s s at worst + drainDelaySeconds %d + exitWaitSeconds %d + %s s margin = %d s. Raise it, or leave it null to have it computed." (int $set) .name .root.Values.registry.type (include "kitexsuite-demo.deregisterSeconds" .) (int $sd.drainDelaySeconds) (int $sd.exitWaitSeconds) (include "kitexsuite-demo.graceMarginSeconds" .) (int $min)) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end }}

{{/*
The PodDisruptionBudget spec fields of a service (minAvailable or
maxUnavailable) as YAML, or "" for none: (dict "root" $ "name" SERVICE).
The service's podDisruptionBudget overrides the global keys; a service
that sets minAvailable or maxUnavailable replaces both; minAvailable wins
over maxUnavailable. Fewer than 2 replicas: none unless forced. A budget
that allows no eviction stalls every node drain: refused.
*/}}
{{- define "kitexsuite-demo.pdb" -}}
{{- $g := .root.Values.podDisruptionBudget -}}
{{- $values := index .root.Values .name -}}
{{- $s := $values.podDisruptionBudget | default dict -}}
{{- $enabled := ternary $s.enabled $g.enabled (hasKey $s "enabled") -}}
{{- $force := ternary $s.force $g.force (hasKey $s "force") -}}
{{- $replicas := int $values.replicas -}}
{{- if and $enabled (or $force (ge $replicas 2)) -}}
{{- $level := ternary $s $g (or (hasKey $s "minAvailable") (hasKey $s "maxUnavailable")) -}}
{{- if hasKey $level "minAvailable" -}}
{{- $v := $level.minAvailable -}}
{{- if or (eq (toString $v) "100%") (and (not (kindIs "string" $v)) (ge (int $v) $replicas) (gt $replicas 0)) -}}
{{- fail (printf "podDisruptionBudget of %s: minAvailable %v with %d replicas allows no eviction and would stall every node drain" .name $v $replicas) -}}
{{- end -}}
minAvailable: {{ $v | toYaml }}
{{- else -}}
{{- $v := ternary $level.maxUnavailable 1 (hasKey $level "maxUnavailable") -}}
{{- if or (eq (toString $v) "0%") (eq (toString $v) "0") -}}
{{- fail (printf "podDisruptionBudget of %s: maxUnavailable %v allows no eviction and would stall every node drain" .name $v) -}}
{{- end -}}
maxUnavailable: {{ $v | toYaml }}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
topologySpreadConstraints of a service as YAML, or "": (dict "root" $
"name" SERVICE). The service's own list, when it has the key, else the
global one; each constraint gets the service's selector labels unless it
has a labelSelector, and on Kubernetes 1.27+ matchLabelKeys
[pod-template-hash] unless it has matchLabelKeys, so the pods of a rolling
update's new ReplicaSet are spread among themselves.
*/}}
{{- define "kitexsuite-demo.topologySpreadConstraints" -}}
{{- $values := index .root.Values .name -}}
{{- $list := .root.Values.topologySpreadConstraints -}}
{{- if hasKey $values "topologySpreadConstraints" }}{{ $list = $values.topologySpreadConstraints }}{{ end -}}
{{- $selector := include "kitexsuite-demo.selectorLabels" . | fromYaml -}}
{{- $matchLabelKeys := semverCompare ">=1.27-0" .root.Capabilities.KubeVersion.Version -}}
{{- $out := list -}}
{{- range $list -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") }}{{ $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}{{ end -}}
{{- if and $matchLabelKeys (not (hasKey $c "matchLabelKeys")) }}{{ $_ := set $c "matchLabelKeys" (list "pod-template-hash") }}{{ end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- if $out }}{{ toYaml $out }}{{ end -}}
{{- end }}

{{/* Where the registry's TLS Secrets are mounted. */}}
{{- define "kitexsuite-demo.etcdTLSDir" -}}/etc/kitexsuite/etcd-tls{{- end }}
{{- define "kitexsuite-demo.consulTLSDir" -}}/etc/kitexsuite/consul-tls{{- end }}

{{/*
The secret volume of a registry's TLS files (etcd or consul: its
registry.<type>.tls values as .tls): the Secret's caKey, certKey and keyKey
as ca.crt, tls.crt and tls.key, the names the environment points at.
*/}}
{{- define "kitexsuite-demo.tlsVolume" -}}
- name: {{ .name }}
  secret:
    secretName: {{ .tls.secretName }}
    items:
      {{- with .tls.caKey }}
      - key: {{ . }}
        path: ca.crt
      {{- end }}
      {{- if and .tls.certKey .tls.keyKey }}
      - key: {{ .tls.certKey }}
        path: tls.crt
      - key: {{ .tls.keyKey }}
        path: tls.key
      {{- end }}
{{- end }}

{{/*
The container environment of the registry (every service talks to it):
KITEXSUITE_REGISTRY, and for etcd its endpoints, TLS files and auth, for
Consul its agent's address (node-local by default), ACL token and TLS — the
CONSUL_* variables consul/api's DefaultConfig reads. Secrets are referenced,
never copied into the manifest.
*/}}
{{- define "kitexsuite-demo.registryEnv" -}}
- name: KITEXSUITE_REGISTRY
  value: {{ .Values.registry.type | quote }}
{{- if eq .Values.registry.type "etcd" }}
{{- $etcd := .Values.registry.etcd }}
- name: KITEXSUITE_ETCD_ENDPOINTS
  value: {{ join "," $etcd.endpoints | quote }}
{{- if $etcd.tls.enabled }}
{{- $dir := include "kitexsuite-demo.etcdTLSDir" . }}
{{- if $etcd.tls.caKey }}
- name: KITEXSUITE_ETCD_CACERT
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
{{- if and $etcd.tls.certKey $etcd.tls.keyKey }}
- name: KITEXSUITE_ETCD_CERT
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: KITEXSUITE_ETCD_KEY
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- end }}
{{- with $etcd.auth.secretName }}
- name: KITEXSUITE_ETCD_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $etcd.auth.usernameKey }}
- name: KITEXSUITE_ETCD_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $etcd.auth.passwordKey }}
{{- end }}
{{- else if eq .Values.registry.type "consul" }}
{{- $consul := .Values.registry.consul }}
{{- if $consul.nodeLocalAgent }}
# The Agent API is node-local: talk to this node's agent. HOST_IP must come
# before CONSUL_HTTP_ADDR for $(HOST_IP) to expand.
- name: HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: CONSUL_HTTP_ADDR
  value: {{ printf "$(HOST_IP):%d" (int $consul.agentPort) | quote }}
{{- else }}
- name: CONSUL_HTTP_ADDR
  value: {{ $consul.address | quote }}
{{- end }}
{{- with $consul.acl.secretName }}
- name: CONSUL_HTTP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $consul.acl.tokenKey }}
{{- end }}
{{- if $consul.tls.enabled }}
{{- $dir := include "kitexsuite-demo.consulTLSDir" . }}
- name: CONSUL_HTTP_SSL
  value: "true"
{{- if $consul.tls.caKey }}
- name: CONSUL_CACERT
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
{{- if and $consul.tls.certKey $consul.tls.keyKey }}
- name: CONSUL_CLIENT_CERT
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: CONSUL_CLIENT_KEY
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- with $consul.tls.serverName }}
- name: CONSUL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod volumes of the registry's TLS Secrets, as a YAML list or "". */}}
{{- define "kitexsuite-demo.registryVolumes" -}}
{{- $r := .Values.registry -}}
{{- if and (eq $r.type "etcd") $r.etcd.tls.enabled -}}
{{- include "kitexsuite-demo.tlsVolume" (dict "name" "etcd-tls" "tls" $r.etcd.tls) -}}
{{- else if and (eq $r.type "consul") $r.consul.tls.enabled -}}
{{- include "kitexsuite-demo.tlsVolume" (dict "name" "consul-tls" "tls" $r.consul.tls) -}}
{{- end -}}
{{- end }}

{{/* Their mounts, as a YAML list or "". */}}
{{- define "kitexsuite-demo.registryVolumeMounts" -}}
{{- $r := .Values.registry -}}
{{- if and (eq $r.type "etcd") $r.etcd.tls.enabled -}}
- name: etcd-tls
  mountPath: {{ include "kitexsuite-demo.etcdTLSDir" . }}
  readOnly: true
{{- else if and (eq $r.type "consul") $r.consul.tls.enabled -}}
- name: consul-tls
  mountPath: {{ include "kitexsuite-demo.consulTLSDir" . }}
  readOnly: true
{{- end -}}
{{- end }}
