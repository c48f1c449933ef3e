{{/*
Object names are fixed (pidguard-webhook, pidguard-agent, ...) as in the kustomize install: the
webhook configurations and ClusterRoles are cluster-wide, so one release per cluster.
*/}}

{{/* Helm's labels, added to every object's own labels (never to selectors, which are immutable). */}}
{{- define "pidguard.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The labels of a pidguard object of one component (webhook, node-agent, audit), with Helm's. */}}
{{- define "pidguard.labels" -}}
app.kubernetes.io/name: pidguard
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: pidguard
{{ include "pidguard.helmLabels" .root }}
{{- end }}

{{/* Labels of objects that belong to no one component. */}}
{{- define "pidguard.commonLabels" -}}
app.kubernetes.io/name: pidguard
app.kubernetes.io/part-of: pidguard
{{ include "pidguard.helmLabels" . }}
{{- end }}

{{- define "pidguard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The namespaces the webhooks never see: the control plane's and pidguard's own. */}}
{{- define "pidguard.excludedNamespaces" -}}
[kube-system, kube-node-lease, kube-public, {{ .Release.Namespace }}]
{{- end }}

{{/* The policy file, rendered once for the ConfigMap and its checksum. */}}
{{- define "pidguard.configYaml" -}}
{{- toYaml .Values.config }}
{{- end }}

{{/* Pod template annotations: a changed config (or self-signed certificate) rolls the pods. */}}
{{- define "pidguard.configChecksum" -}}
checksum/config: {{ include "pidguard.configYaml" . | sha256sum }}
{{- end }}

{{- define "pidguard.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The self-signed mode's Secret data; fails when a file was not given. */}}
{{- define "pidguard.selfSignedSecretData" -}}
{{- $files := .Values.tls.selfSigned -}}
{{- range $key := list "caCert" "cert" "key" }}
{{- if not (index $files $key) }}
{{- fail (printf "tls.mode self-signed needs tls.selfSigned.%s: --set-file tls.selfSigned.caCert=certs/ca.crt,tls.selfSigned.cert=certs/tls.crt,tls.selfSigned.key=certs/tls.key (made by `pidguard certs`)" $key) }}
{{- end }}
{{- end -}}
ca.crt: {{ $files.caCert | b64enc }}
tls.crt: {{ $files.cert | b64enc }}
tls.key: {{ $files.key | b64enc }}
{{- end }}

{{/* Where the webhook configurations get their CA: cainjector's annotation, or the caBundle itself. */}}
{{- define "pidguard.caAnnotations" -}}
{{- if eq .Values.tls.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/pidguard-webhook
{{- end }}
{{- end }}

{{- define "pidguard.clientConfig" -}}
clientConfig:
  service:
    name: pidguard-webhook
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if eq .root.Values.tls.mode "self-signed" }}
  caBundle: {{ .root.Values.tls.selfSigned.caCert | b64enc }}
  {{- end }}
{{- end }}
