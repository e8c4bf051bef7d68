{{/*
One component's Deployment. Every component runs `kite <component> --config /etc/kite/kite.yaml` from the same
image; what differs comes from its values block. Call with (dict "root" $ "component" "<name>").
*/}}
{{- define "kite.deployment" -}}
{{- $root := .root -}}
{{- $name := .component -}}
{{- $c := index $root.Values $name -}}
{{- $g := $root.Values.global -}}
{{- $hpa := include "kite.hpaEnabled" . -}}
{{- $s3Secret := include "kite.s3SecretName" $root -}}
{{- /* Only the proxy serves the public port, so only it mounts the TLS Secret. */ -}}
{{- $tls := and (eq $name "proxy") (gt (int $root.Values.tls.mode) 0) -}}
{{- $etcdSecret := include "kite.etcdSecretName" $root -}}
{{- $kafkaSecret := include "kite.kafkaSecretName" $root -}}
{{- $tlsMounts := dict -}}
{{- if $root.Values.externalEtcd.tls.existingSecret }}{{ $_ := set $tlsMounts "etcd" (tpl $root.Values.externalEtcd.tls.existingSecret $root) }}{{ end -}}
{{- if and (hasSuffix "SSL" $root.Values.externalKafka.securityProtocol) $root.Values.externalKafka.tls.existingSecret }}{{ $_ := set $tlsMounts "kafka" (tpl $root.Values.externalKafka.tls.existingSecret $root) }}{{ end -}}
{{- if and (eq $root.Values.storage.type "s3") $root.Values.externalS3.tls.existingSecret }}{{ $_ := set $tlsMounts "s3" (tpl $root.Values.externalS3.tls.existingSecret $root) }}{{ end -}}
{{- $podLabels := merge (deepCopy ($c.podLabels | default dict)) ($g.podLabels | default dict) -}}
{{- $podAnnotations := merge (deepCopy ($c.podAnnotations | default dict)) ($g.podAnnotations | default dict) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "kite.componentName" . }}
  labels:
    {{- include "kite.labels" . | nindent 4 }}
spec:
  {{- if not $hpa }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  {{- with $c.strategy }}
  strategy:
    {{- /* Recreate takes no rollingUpdate (a values file's {type: Recreate} merges over the default's). */ -}}
    {{- toYaml (eq (toString .type) "Recreate" | ternary (omit . "rollingUpdate") .) | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "kite.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kite.labels" . | nindent 8 }}
        {{- with $podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Rolls the pods when the rendered config (or the chart-made S3 Secret) changes.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if and $s3Secret (not $root.Values.externalS3.existingSecret) }}
        checksum/s3-secret: {{ include (print $root.Template.BasePath "/s3-secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if or $etcdSecret $kafkaSecret }}
        checksum/backends-secret: {{ include (print $root.Template.BasePath "/backends-secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- with $podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with $g.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $g.serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- with include "kite.pick" (dict "root" $root "component" $name "key" "podSecurityContext") }}
      securityContext:
        {{- . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "kite.terminationGracePeriod" . }}
      {{- with include "kite.spread" . | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "kite.image" . | quote }}
          imagePullPolicy: {{ include "kite.imagePullPolicy" . }}
          args: [{{ $name | quote }}, "--config", "/etc/kite/kite.yaml"]
          {{- with $c.preStopSleepSeconds }}
          # Kubernetes takes a terminating pod out of its Service's endpoints while this runs, so clients stop
          # being sent here before SIGTERM closes the port to new calls.
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ . | quote }}]
          {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $c.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $c.metricsPort }}
              protocol: TCP
          env:
            # Other components reach this pod at its own IP (sessions in etcd carry it); its internal port binds
            # only that IP, the public port (proxy) and the metrics port 0.0.0.0.
            - name: KITE_COMMON_ADVERTISE_HOST
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: KITE_INTERNAL_LISTEN_HOST
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            # Sent with every internal call and required by every internal server.
            - name: KITE_INTERNAL_SECRET
              valueFrom:
                secretKeyRef:
                  name: {{ include "kite.internalSecretName" $root }}
                  key: {{ include "kite.internalSecretKey" $root }}
            - name: KITE_LOG_LEVEL
              value: {{ $g.logLevel | quote }}
            {{- if $s3Secret }}
            - name: KITE_STORAGE_S3_ACCESS_KEY_ID
              valueFrom:
                secretKeyRef:
                  name: {{ $s3Secret }}
                  key: {{ ternary $root.Values.externalS3.accessKeyIdKey "access-key-id" (ne $root.Values.externalS3.existingSecret "") }}
            - name: KITE_STORAGE_S3_SECRET_ACCESS_KEY
              valueFrom:
                secretKeyRef:
                  name: {{ $s3Secret }}
                  key: {{ ternary $root.Values.externalS3.secretAccessKeyKey "secret-access-key" (ne $root.Values.externalS3.existingSecret "") }}
            {{- end }}
            {{- if $etcdSecret }}
            - name: KITE_META_ETCD_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $etcdSecret }}
                  key: {{ ternary $root.Values.externalEtcd.passwordKey "etcd-password" (ne $root.Values.externalEtcd.existingSecret "") }}
            {{- end }}
            {{- if $kafkaSecret }}
            - name: KITE_WAL_KAFKA_SASL_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $kafkaSecret }}
                  key: {{ ternary $root.Values.externalKafka.saslPasswordKey "kafka-sasl-password" (ne $root.Values.externalKafka.existingSecret "") }}
            {{- end }}
            {{- with include "kite.extraEnv" . }}
            {{- . | nindent 12 }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: {{ $c.probes.livenessPath }}
              port: metrics
            {{- toYaml $g.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: {{ $c.probes.readinessPath }}
              port: metrics
            {{- toYaml $g.probes.readiness | nindent 12 }}
          {{- with include "kite.pick" (dict "root" $root "component" $name "key" "resources") }}
          resources:
            {{- . | nindent 12 }}
          {{- end }}
          {{- with include "kite.pick" (dict "root" $root "component" $name "key" "securityContext") }}
          securityContext:
            {{- . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: config
              mountPath: /etc/kite
              readOnly: true
            - name: data
              mountPath: /var/lib/kite
            - name: tmp
              mountPath: /tmp
            {{- if eq $root.Values.storage.type "local" }}
            - name: objects
              mountPath: {{ $root.Values.storage.local.mountPath }}
            {{- end }}
            {{- if $tls }}
            - name: tls
              mountPath: {{ include "kite.tlsDir" $root }}
              readOnly: true
            {{- end }}
            {{- range $backend, $secret := $tlsMounts }}
            - name: {{ $backend }}-tls
              mountPath: /etc/kite-tls/{{ $backend }}
              readOnly: true
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "kite.fullname" $root }}-config
        # Scratch only: in a cluster the state lives in etcd, Kafka and object storage.
        - name: data
          emptyDir: {}
        - name: tmp
          emptyDir: {}
        {{- if $tls }}
        - name: tls
          secret:
            secretName: {{ tpl $root.Values.tls.existingSecret $root }}
        {{- end }}
        {{- if eq $root.Values.storage.type "local" }}
        - name: objects
          persistentVolumeClaim:
            claimName: {{ $root.Values.storage.local.existingClaim }}
        {{- end }}
        {{- range $backend, $secret := $tlsMounts }}
        - name: {{ $backend }}-tls
          secret:
            secretName: {{ $secret }}
        {{- end }}
      {{- with include "kite.pick" (dict "root" $root "component" $name "key" "nodeSelector") }}
      nodeSelector:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with include "kite.pick" (dict "root" $root "component" $name "key" "tolerations") }}
      tolerations:
        {{- . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* "true" when the component has an HorizontalPodAutoscaler (proxy and querynode offer one), else empty. */}}
{{- define "kite.hpaEnabled" -}}
{{- $c := index .root.Values .component -}}
{{- if and $c.hpa $c.hpa.enabled -}}
{{- if not (has .component (list "proxy" "querynode")) -}}
{{- fail (printf "%s.hpa.enabled: only proxy and querynode scale horizontally by load" .component) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* One component's Service: grpc and metrics ports; headless unless service.headless is false. */}}
{{- define "kite.service" -}}
{{- $root := .root -}}
{{- $c := index $root.Values .component -}}
{{- $svc := $c.service | default dict -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "kite.componentName" . }}
  labels:
    {{- include "kite.labels" . | nindent 4 }}
    {{- with $svc.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $svc.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if $svc.headless }}
  clusterIP: None
  {{- else }}
  type: {{ $svc.type | default "ClusterIP" }}
  {{- end }}
  selector:
    {{- include "kite.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $c.port }}
      targetPort: grpc
      protocol: TCP
    - name: metrics
      port: {{ $c.metricsPort }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{/* One component's HorizontalPodAutoscaler (autoscaling/v2), by CPU and optionally memory utilisation. */}}
{{- define "kite.hpa" -}}
{{- $c := index .root.Values .component -}}
{{- if include "kite.hpaEnabled" . -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "kite.componentName" . }}
  labels:
    {{- include "kite.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "kite.componentName" . }}
  minReplicas: {{ $c.hpa.minReplicas }}
  maxReplicas: {{ $c.hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $c.hpa.targetCPUUtilizationPercentage }}
    {{- with $c.hpa.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/* global.extraEnv then the component's extraEnv; a component entry replaces a global one of the same name. */}}
{{- define "kite.extraEnv" -}}
{{- $c := index .root.Values .component -}}
{{- $own := list -}}
{{- range ($c.extraEnv | default list) -}}
{{- $own = append $own .name -}}
{{- end -}}
{{- $env := list -}}
{{- range (.root.Values.global.extraEnv | default list) -}}
{{- if not (has .name $own) -}}
{{- $env = append $env . -}}
{{- end -}}
{{- end -}}
{{- $env = concat $env ($c.extraEnv | default list) -}}
{{- if $env -}}
{{- toYaml $env -}}
{{- end -}}
{{- end -}}

{{/* The component's replicas as the scheduler will see them: hpa.minReplicas under an HPA, else replicaCount. */}}
{{- define "kite.minReplicas" -}}
{{- $c := index .root.Values .component -}}
{{- if include "kite.hpaEnabled" . -}}
{{- $c.hpa.minReplicas -}}
{{- else -}}
{{- $c.replicaCount -}}
{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds of a component's pods. Kubernetes counts it from the start of the preStop hook, then
sends SIGTERM; Kite then stops within config common.stopTimeoutMs (50 s unless extraConfig sets it). Computed, when
not set: preStop pause + stop timeout + 10 s for the process to exit; a value set below pause + stop timeout would
kill a stop that is still handing work over, so it is refused.
*/}}
{{- define "kite.terminationGracePeriod" -}}
{{- $root := .root -}}
{{- $c := index $root.Values .component -}}
{{- $common := (($root.Values.extraConfig | default dict).common | default dict) -}}
{{- $stopMs := int ($common.stopTimeoutMs | default 50000) -}}
{{- $stopS := div (add $stopMs 999) 1000 -}}
{{- $pause := int ($c.preStopSleepSeconds | default 0) -}}
{{- $set := $c.terminationGracePeriodSeconds | default $root.Values.global.terminationGracePeriodSeconds -}}
{{- if kindIs "string" $set -}}{{- $set = "" -}}{{- end -}}
{{- if eq (toString $set) "" -}}
{{- add $pause $stopS 10 -}}
{{- else if lt (int $set) (add $pause $stopS) -}}
{{- fail (printf "%s: terminationGracePeriodSeconds %d is shorter than preStopSleepSeconds (%d) + common.stopTimeoutMs (%d s): Kubernetes would kill the graceful stop; raise it or leave it empty (computed)" .component (int $set) $pause $stopS) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end -}}

{{/*
Scheduling of a component's replicas apart from each other: a topology spread constraint (global.topologySpread,
or the component's own when not empty) and, by the component's podAntiAffinity (soft or hard), a pod anti-affinity
term on the node, added to the affinity the values give unless those already have one.
*/}}
{{- define "kite.spread" -}}
{{- $root := .root -}}
{{- $c := index $root.Values .component -}}
{{- $s := $c.topologySpread | default $root.Values.global.topologySpread | default dict -}}
{{- if $s.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $s.maxSkew | default 1 }}
    topologyKey: {{ $s.topologyKey | default "kubernetes.io/hostname" }}
    whenUnsatisfiable: {{ $s.whenUnsatisfiable | default "ScheduleAnyway" }}
    labelSelector:
      matchLabels:
        {{- include "kite.selectorLabels" . | nindent 8 }}
{{- end }}
{{- $affinity := fromYaml (include "kite.pick" (dict "root" $root "component" .component "key" "affinity")) | default dict -}}
{{- $mode := $c.podAntiAffinity | default "" -}}
{{- if and $mode (not (hasKey $affinity "podAntiAffinity")) -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (fromYaml (include "kite.selectorLabels" .))) -}}
{{- if eq $mode "hard" -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- else -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) -}}
{{- end -}}
{{- end -}}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A component's PodDisruptionBudget: podDisruptionBudget.enabled true, or auto with more than one replica. */}}
{{- define "kite.pdb" -}}
{{- $c := index .root.Values .component -}}
{{- $p := $c.podDisruptionBudget | default dict -}}
{{- $on := or (eq (toString $p.enabled) "true") (and (eq (toString $p.enabled) "auto") (gt (int (include "kite.minReplicas" .)) 1)) -}}
{{- if $on -}}
{{- if and (ne (toString $p.minAvailable) "") (ne (toString $p.maxUnavailable) "") -}}
{{- fail (printf "%s.podDisruptionBudget: set minAvailable or maxUnavailable, not both (empty the other with \"\")" .component) -}}
{{- end -}}
{{- if and (eq (toString $p.minAvailable) "") (eq (toString $p.maxUnavailable) "") -}}
{{- fail (printf "%s.podDisruptionBudget: set minAvailable or maxUnavailable" .component) -}}
{{- end -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "kite.componentName" . }}
  labels:
    {{- include "kite.labels" . | nindent 4 }}
spec:
  {{- if ne (toString $p.minAvailable) "" }}
  minAvailable: {{ $p.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $p.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "kite.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
