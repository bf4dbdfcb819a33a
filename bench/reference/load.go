// A Go load generator for dflockd-compatible servers, used by bench/reference/run.sh and by the
// side-by-side benchmark (bench/vs_go.ts), so that every server is driven by the same native
// generator and the generator's own cost is the same for all of them.
//
// Load mode (default): C connections, each running R acquire+release pairs (no pipelining), on
// its own key (-key-mode unique: <prefix>-<i>) or all on one key (-key-mode shared:
// <prefix>-shared, FIFO hand-over on the server). Every connection is open before the clock
// starts. One op = one pair; its latency runs from writing the acquire to reading the release's
// answer. Prints "ops/s N p50 X ms p99 Y ms", or with -json one JSON object
// {"ops","seconds","opsPerSec","p50Ms","p99Ms","timeouts"} (nearest-rank percentiles).
//
// Hold mode (-hold): C connections, opened 256 at a time, each acquires its own key
// <prefix>-<i> with the lease -lease and keeps it; then prints one JSON line
// {"held","seconds","p50Ms","p99Ms"} (connect+acquire latency) and keeps every connection open
// until its standard input ends, then closes them and exits.
//
// Build: go build -o /tmp/go-load load.go
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
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
	keyMode := flag.String("key-mode", "unique", "unique (a key per connection) or shared (one key)")
	prefix := flag.String("prefix", "go-load", "key prefix")
	timeout := flag.Int("timeout", -1, "acquire timeout in seconds (default 5 unique, 30 shared)")
	asJSON := flag.Bool("json", false, "print one JSON object")
	hold := flag.Bool("hold", false, "hold mode: each connection acquires and keeps one lock until stdin ends")
	lease := flag.Int("lease", 600, "hold mode: lease in seconds")
	flag.Parse()
	if *conns < 1 || *rounds < 0 || (*keyMode != "unique" && *keyMode != "shared") {
		fmt.Fprintln(os.Stderr, "usage: load [-addr host:port] [-c N>=1] [-r N>=0] [-key-mode unique|shared] [-prefix P] [-timeout S] [-json] [-hold [-lease S]]")
		os.Exit(2)
	}
	if *hold {
		if err := holdMode(*addr, *conns, *prefix, *lease); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	t := *timeout
	if t < 0 {
		t = 5
		if *keyMode == "shared" {
			t = 30
		}
	}
	if err := loadMode(*addr, *conns, *rounds, *keyMode, *prefix, t, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// rank is the nearest-rank percentile of sorted (the same rule as bench/_stats.ts).
func rank(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / 1e6
}

func loadMode(addr string, conns, rounds int, keyMode, prefix string, timeout int, asJSON bool) error {
	sockets := make([]net.Conn, conns)
	defer func() {
		for _, c := range sockets {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range sockets {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		sockets[i] = c
	}
	latencies := make([][]time.Duration, conns)
	timeouts := make([]int, conns)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		if keyMode == "shared" {
			key = prefix + "-shared"
		}
		wg.Add(1)
		go func(i int, key string) {
			defer wg.Done()
			if err := worker(sockets[i], key, rounds, timeout, &latencies[i], &timeouts[i]); err != nil {
				errs <- err
			}
		}(i, key)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	var all []time.Duration
	missed := 0
	for i, l := range latencies {
		all = append(all, l...)
		missed += timeouts[i]
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	n := len(all)
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
			"ops":       n,
			"seconds":   elapsed.Seconds(),
			"opsPerSec": float64(n) / elapsed.Seconds(),
			"p50Ms":     rank(all, 0.5),
			"p99Ms":     rank(all, 0.99),
			"timeouts":  missed,
		})
	}
	fmt.Printf("ops/s %.0f p50 %.3f ms p99 %.3f ms\n", float64(n)/elapsed.Seconds(), rank(all, 0.5), rank(all, 0.99))
	return nil
}

func worker(conn net.Conn, key string, rounds, timeout int, out *[]time.Duration, timeouts *int) error {
	r := bufio.NewReader(conn)
	acquire := []byte(fmt.Sprintf("l\n%s\n%d\n", key, timeout))
	*out = make([]time.Duration, 0, rounds)
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
		if len(fields) == 1 && fields[0] == "timeout" {
			*timeouts++
			continue
		}
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

func holdMode(addr string, conns int, prefix string, lease int) error {
	sockets := make([]net.Conn, conns)
	latencies := make([]time.Duration, conns)
	defer func() {
		for _, c := range sockets {
			if c != nil {
				c.Close()
			}
		}
	}()
	next := make(chan int, conns)
	for i := 0; i < conns; i++ {
		next <- i
	}
	close(next)
	errs := make(chan error, 256)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 256 && w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				sockets[i] = c
				if _, err := fmt.Fprintf(c, "l\n%s-%d\n0 %d\n", prefix, i, lease); err != nil {
					errs <- err
					return
				}
				line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "ok ") {
					errs <- fmt.Errorf("hold %d: acquire answered %q (%v)", i, line, err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	if err := json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"held":    conns,
		"seconds": elapsed.Seconds(),
		"p50Ms":   rank(latencies, 0.5),
		"p99Ms":   rank(latencies, 0.99),
	}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
