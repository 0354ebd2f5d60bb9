#!/usr/bin/env bash
# CI step: deploy/k8s/*.yaml against the Kubernetes 1.27 API schema shipped in the
# kubernetes-models package (no cluster, no download), strict about unknown fields, and
# coherent with each other and the image (scripts/validate-k8s.ts). About 5 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/scripts/validate-k8s.js ] || npm run build >/dev/null
echo '== k8s: validate deploy/k8s'
timeout 120 node dist/scripts/validate-k8s.js deploy/k8s
