// Command etcd-server is the standalone etcd server of the version this
// module depends on (go.etcd.io/etcd/server/v3), for the local compose
// cluster's image: `go install` of etcd itself is refused (its go.mod has
// replace directives), so this wrapper builds it from our module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
