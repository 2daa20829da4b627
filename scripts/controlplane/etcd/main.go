// Command etcd is kwatch's tiny wrapper that builds the etcd server from the
// go.etcd.io/etcd/server/v3 module. The upstream etcd main module carries
// replace directives, so `go install go.etcd.io/etcd/v3@vX` does not work;
// this helper only calls the server's real entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
