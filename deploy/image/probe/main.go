// Command probe is the health check of the compose images (which have no
// shell or curl): probe URL exits 0 when a GET of URL answers 2xx, or any
// HTTP status with -any (a server that is up but wants credentials).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	anyStatus := flag.Bool("any", false, "any HTTP response counts as healthy")
	timeout := flag.Duration("timeout", 3*time.Second, "request timeout")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: probe [-any] URL")
		os.Exit(2)
	}
	resp, err := (&http.Client{Timeout: *timeout}).Get(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if !*anyStatus && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		fmt.Fprintln(os.Stderr, "probe:", resp.Status)
		os.Exit(1)
	}
}
