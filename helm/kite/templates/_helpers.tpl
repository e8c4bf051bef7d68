{{/*
Names and labels shared by every template. Component templates call the "kite.*" defines with
(dict "root" $ "component" "<name>").
*/}}

{{- define "kite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kite.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kite.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The components, in start order. */}}
{{- define "kite.components" -}}
querycoord datanode querynode proxy
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. */}}
{{- define "kite.componentName" -}}
{{- printf "%s-%s" (include "kite.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: immutable on a Deployment, so only identity. */}}
{{- define "kite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kite.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
component: {{ .component }}
{{- end }}
{{- end -}}

{{/* Labels on every object; `component` is empty only for the cluster-wide ones (ConfigMap, Secret, ServiceMonitor). */}}
{{- define "kite.labels" -}}
helm.sh/chart: {{ include "kite.chart" .root }}
{{ include "kite.selectorLabels" . }}
{{- if not .component }}
component: cluster
{{- end }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kite
{{- end -}}

{{/* image reference: component image fields override global.image fields; the tag defaults to appVersion. */}}
{{- define "kite.image" -}}
{{- $c := index .root.Values .component -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.global.image) (deepCopy ($c.image | default dict)) -}}
{{- printf "%s:%s" $img.repository (toString (default .root.Chart.AppVersion $img.tag)) -}}
{{- end -}}

{{- define "kite.imagePullPolicy" -}}
{{- $c := index .root.Values .component -}}
{{- ($c.image | default dict).pullPolicy | default .root.Values.global.image.pullPolicy -}}
{{- end -}}

{{/*
A setting where the component's value, when not empty, replaces the global one: prints it as YAML (empty when both
are empty). Call with (dict "root" $ "component" "proxy" "key" "nodeSelector").
*/}}
{{- define "kite.pick" -}}
{{- $c := index .root.Values .component -}}
{{- $v := index $c .key | default (index .root.Values.global .key) -}}
{{- if $v -}}
{{- toYaml $v -}}
{{- end -}}
{{- end -}}

{{/* Name of the S3 credentials Secret, empty when none is used. */}}
{{- define "kite.s3SecretName" -}}
{{- $s3 := .Values.externalS3 -}}
{{- if ne .Values.storage.type "s3" -}}
{{- else if $s3.existingSecret -}}
{{- tpl $s3.existingSecret . -}}
{{- else if $s3.accessKeyId -}}
{{- printf "%s-s3" (include "kite.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the cluster secret: internal.existingSecret, or the one the chart creates. */}}
{{- define "kite.internalSecretName" -}}
{{- if .Values.internal.existingSecret -}}
{{- tpl .Values.internal.existingSecret . -}}
{{- else -}}
{{- printf "%s-internal" (include "kite.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The key of the cluster secret in that Secret. */}}
{{- define "kite.internalSecretKey" -}}
{{- ternary .Values.internal.secretKey "internal-secret" (ne .Values.internal.existingSecret "") -}}
{{- end -}}

{{/* Where the proxy reads its TLS files (tls.existingSecret mounted). */}}
{{- define "kite.tlsDir" -}}/etc/kite/tls{{- end -}}

{{/* Name of the Secret holding the etcd password, empty when no etcd user is set. */}}
{{- define "kite.etcdSecretName" -}}
{{- $e := .Values.externalEtcd -}}
{{- if $e.userName -}}
{{- if $e.existingSecret -}}
{{- tpl $e.existingSecret . -}}
{{- else -}}
{{- printf "%s-backends" (include "kite.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the Kafka SASL password, empty unless the protocol is SASL_*. */}}
{{- define "kite.kafkaSecretName" -}}
{{- $k := .Values.externalKafka -}}
{{- if hasPrefix "SASL_" $k.securityProtocol -}}
{{- if $k.existingSecret -}}
{{- tpl $k.existingSecret . -}}
{{- else -}}
{{- printf "%s-backends" (include "kite.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Sets `<prefix>CaPemPath`, `<prefix>CertPemPath`, `<prefix>KeyPemPath` in .into for the keys of a mounted TLS Secret. */}}
{{- define "kite.tlsPaths" -}}
{{- $t := .tls -}}
{{- if $t.existingSecret -}}
{{- if $t.caKey }}{{ $_ := set .into (printf "%sCaPemPath" .prefix) (printf "/etc/kite-tls/%s/%s" .name $t.caKey) }}{{ end -}}
{{- if $t.certKey }}{{ $_ := set .into (printf "%sCertPemPath" .prefix) (printf "/etc/kite-tls/%s/%s" .name $t.certKey) }}{{ end -}}
{{- if $t.keyKey }}{{ $_ := set .into (printf "%sKeyPemPath" .prefix) (printf "/etc/kite-tls/%s/%s" .name $t.keyKey) }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* Kite's config file (packages/common/src/config.ts), rendered from values. */}}
{{- define "kite.config" -}}
{{- $root := . -}}
{{- $v := .Values -}}
{{- if not (has $v.storage.type (list "s3" "local")) -}}
{{- fail (printf "storage.type must be s3 or local, not %q" $v.storage.type) -}}
{{- end -}}
{{- $etcd := list -}}
{{- range $v.externalEtcd.endpoints -}}
{{- $etcd = append $etcd (tpl . $root) -}}
{{- end -}}
{{- if not $etcd -}}
{{- fail "externalEtcd.endpoints is empty: list your etcd client URLs, e.g. http://etcd:2379" -}}
{{- end -}}
{{- $kafka := list -}}
{{- range $v.externalKafka.brokers -}}
{{- $kafka = append $kafka (tpl . $root) -}}
{{- end -}}
{{- if not $kafka -}}
{{- fail "externalKafka.brokers is empty: list your Kafka bootstrap brokers, e.g. kafka:9092" -}}
{{- end -}}
{{- $storage := dict "type" $v.storage.type -}}
{{- if eq $v.storage.type "s3" -}}
{{- $s3 := $v.externalS3 -}}
{{- /* An empty endpoint is AWS S3's own endpoint for the region; it must still be written, or Kite's default applies. */ -}}
{{- $_ := set $storage "s3" (dict "endpoint" (tpl ($s3.endpoint | default "") $root) "bucket" (tpl $s3.bucket $root) "region" $s3.region "forcePathStyle" $s3.forcePathStyle) -}}
{{- if and $s3.tls $s3.tls.existingSecret $s3.tls.caKey -}}
{{- $_ := set $storage.s3 "caPemPath" (printf "/etc/kite-tls/s3/%s" $s3.tls.caKey) -}}
{{- end -}}
{{- else -}}
{{- if not $v.storage.local.existingClaim -}}
{{- fail "storage.type local needs storage.local.existingClaim: a ReadWriteMany PersistentVolumeClaim every component mounts" -}}
{{- end -}}
{{- $_ := set $storage "path" $v.storage.local.mountPath -}}
{{- end -}}
{{- if $v.storage.rootPath -}}
{{- $_ := set $storage "rootPath" $v.storage.rootPath -}}
{{- end -}}
{{- $e := $v.externalEtcd -}}
{{- $meta := dict "type" "etcd" "etcdEndpoints" $etcd -}}
{{- if $e.userName -}}
{{- if and (not $e.existingSecret) (not $e.password) -}}
{{- fail "externalEtcd.userName needs externalEtcd.existingSecret (with the password under passwordKey) or externalEtcd.password" -}}
{{- end -}}
{{- $_ := set $meta "etcdUserName" $e.userName -}}
{{- end -}}
{{- include "kite.tlsPaths" (dict "tls" $e.tls "into" $meta "prefix" "etcd" "name" "etcd") -}}
{{- $k := $v.externalKafka -}}
{{- $wal := dict "type" "kafka" "kafkaBrokers" $kafka -}}
{{- if ne $k.securityProtocol "PLAINTEXT" -}}
{{- $_ := set $wal "kafkaSecurityProtocol" $k.securityProtocol -}}
{{- end -}}
{{- if hasPrefix "SASL_" $k.securityProtocol -}}
{{- if or (not $k.saslUsername) (and (not $k.existingSecret) (not $k.saslPassword)) -}}
{{- fail (printf "externalKafka.securityProtocol %s needs externalKafka.saslUsername and externalKafka.existingSecret (with the password under saslPasswordKey) or externalKafka.saslPassword" $k.securityProtocol) -}}
{{- end -}}
{{- $_ := set $wal "kafkaSaslMechanism" $k.saslMechanism -}}
{{- $_ := set $wal "kafkaSaslUsername" $k.saslUsername -}}
{{- end -}}
{{- if hasSuffix "SSL" $k.securityProtocol -}}
{{- include "kite.tlsPaths" (dict "tls" $k.tls "into" $wal "prefix" "kafka" "name" "kafka") -}}
{{- end -}}
{{- $cfg := dict
  "common" (dict "rootPath" $v.config.rootPath "dataDir" "/var/lib/kite" "sessionTtlSeconds" $v.config.sessionTtlSeconds "listenHost" "0.0.0.0" "metricsListenHost" "0.0.0.0")
  "meta" $meta
  "wal" $wal
  "storage" $storage
  "security" (dict "authorizationEnabled" $v.config.authorizationEnabled)
-}}
{{- $mode := int $v.tls.mode -}}
{{- if gt $mode 0 -}}
{{- if not $v.tls.existingSecret -}}
{{- fail (printf "tls.mode %d needs tls.existingSecret: a Secret with tls.crt and tls.key (and ca.crt for mode 2)" $mode) -}}
{{- end -}}
{{- $dir := include "kite.tlsDir" . -}}
{{- $_ := set $cfg "tls" (dict "mode" $mode "serverPemPath" (printf "%s/tls.crt" $dir) "serverKeyPath" (printf "%s/tls.key" $dir) "caPemPath" (ternary (printf "%s/ca.crt" $dir) "" (eq $mode 2))) -}}
{{- end -}}
{{- range $component := splitList " " (include "kite.components" .) -}}
{{- $c := index $v $component -}}
{{- $_ := set $cfg $component (dict "port" $c.port "metricsPort" $c.metricsPort) -}}
{{- end -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy $v.extraConfig) -}}
{{- toYaml $cfg -}}
{{- end -}}
