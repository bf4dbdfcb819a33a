// A Go echo floor for comparison with bench/echo_floor.ts: answers every 3-line request with
// the same fixed line, one goroutine per connection. Build: go build -o /tmp/go-echo echo_floor.go
// Prints "listening on HOST:PORT" on stderr like the dflock targets.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
)

var response = []byte("ok 0123456789abcdef0123456789abcdef 33\n")

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(conn)
	}
}

func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	lines := 0
	for {
		if _, err := r.ReadSlice('\n'); err != nil {
			return
		}
		lines++
		if lines == 3 {
			lines = 0
			if _, err := conn.Write(response); err != nil {
				return
			}
		}
	}
}
