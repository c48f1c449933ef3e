//go:build tools

// Package tools pins the helm CLI's main package to this module, so go.sum holds every module
// it needs and `go build helm.sh/helm/v3/cmd/helm` builds exactly the pinned release.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
