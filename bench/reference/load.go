// A Go load generator for comparison with bench/load.ts: C connections, each running R
// acquire+release pairs on its own key (no pipelining), then ops/s, p50 and p99 per pair.
// Build: go build -o /tmp/go-load load.go
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6388", "server address")
	conns := flag.Int("c", 100, "connections")
	rounds := flag.Int("r", 500, "acquire+release pairs per connection")
	flag.Parse()
	latencies := make([][]time.Duration, *conns)
	errs := make(chan error, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := worker(*addr, fmt.Sprintf("go-load-%d", i), *rounds, &latencies[i]); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	n := len(all)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	fmt.Printf("ops/s %.0f p50 %.3f ms p99 %.3f ms\n",
		float64(n)/elapsed.Seconds(), ms(all[n/2]), ms(all[n*99/100]))
}

func worker(addr, key string, rounds int, out *[]time.Duration) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	acquire := []byte("l\n" + key + "\n5\n")
	for j := 0; j < rounds; j++ {
		t0 := time.Now()
		if _, err := conn.Write(acquire); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "ok" {
			return fmt.Errorf("acquire answered %q", line)
		}
		if _, err := conn.Write([]byte("r\n" + key + "\n" + fields[1] + "\n")); err != nil {
			return err
		}
		if line, err = r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "ok") {
			return fmt.Errorf("release answered %q (%v)", line, err)
		}
		*out = append(*out, time.Since(t0))
	}
	return nil
}
