// Programs whose memory goalloc's scavenger model is checked against over time
// (tests/test_scavenger_go.py, issue #20). Each logs runtime/metrics every 20 ms into its
// execution trace with docs/go/goallocmetrics (copied next to this file by the test).
// Usage: GOALLOC_TRACE=OUT.trace GODEBUG=traceallocfree=1 ./scavprogs shrink|bursts|server|limit
//
//	shrink  builds ~96 MiB of 1-4 KiB objects, keeps every tenth and works on (8 KiB garbage,
//	        ~400 MB/s) for 1.5 s: the scavenger gives the dropped heap back over several cycles.
//	bursts  5 bursts of 120 down to 40 MiB of 64 KiB - 2 MiB objects, each dropped after
//	        150 ms, then 1 s more; a goroutine makes 32 KiB garbage (~100 MB/s) throughout,
//	        so cycles keep coming.
//	server  8 goroutines serving "requests" (4-64 KiB buffers and small objects, a 16 MiB
//	        cache turned over) for 1.5 s: a steady heap, little to release.
//	limit   GOMEMLIMIT 64 MiB (set by the test) with GOGC=off: a live set that climbs to
//	        ~48 MiB and drops, three times, so the limit's scavenger goal and allocation-time
//	        scavenging act.
package main

import (
	"os"
	"runtime"
	"runtime/trace"
	"sync"
	"time"

	"scavprogs/goallocmetrics"
)

var sink []byte

// alloc returns n bytes the program has written to (one byte per 4 KiB page), as a program
// uses what it allocates: pages the kernel never backed are released far faster (see
// goalloc docs/model.md, "Scavenger").
func alloc(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	return b
}

func garbage(n, size int) {
	for i := 0; i < n; i++ {
		sink = alloc(size + i%64)
	}
}

func shrink() {
	keep := make([][]byte, 0, 4096)
	all := make([][]byte, 0, 40000)
	total := 0
	for i := 0; total < 96<<20; i++ {
		b := alloc(1024 + (i*37)%3072)
		all = append(all, b)
		total += len(b)
	}
	for i := range all {
		if i%10 == 0 {
			keep = append(keep, all[i])
		}
	}
	all = nil
	until := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(until) {
		garbage(100, 8192)
		time.Sleep(2 * time.Millisecond)
	}
	runtime.KeepAlive(keep)
}

var burst [][]byte

func bursts() {
	stop := make(chan struct{})
	go func() { // a steady trickle of garbage (~100 MB/s), so cycles keep coming
		for {
			select {
			case <-stop:
				return
			default:
				garbage(16, 32<<10)
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	for b := 0; b < 5; b++ {
		size := (120 - 20*b) << 20
		for total, i := 0, 0; total < size; i++ {
			n := 64<<10 + ((i*7919)%32)*(64<<10)
			burst = append(burst, alloc(n))
			total += n
		}
		time.Sleep(150 * time.Millisecond)
		burst = nil
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
}

func server() {
	var mu sync.Mutex
	cache := make([][]byte, 1024)
	var wg sync.WaitGroup
	until := time.Now().Add(1500 * time.Millisecond)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; time.Now().Before(until); i += 8 {
				buf := alloc(4<<10 + (i%16)*(4<<10))
				garbage(4, 256)
				mu.Lock()
				cache[(i*31)%len(cache)] = buf
				mu.Unlock()
				if i%64 == g {
					time.Sleep(time.Millisecond)
				}
			}
		}(g)
	}
	wg.Wait()
	runtime.KeepAlive(cache)
}

func limit() {
	for round := 0; round < 3; round++ {
		var held [][]byte
		for total := 0; total < 48<<20; total += 256 << 10 {
			held = append(held, alloc(256<<10))
			garbage(40, 512)
		}
		time.Sleep(100 * time.Millisecond)
		runtime.KeepAlive(held)
		held = nil
		for i := 0; i < 200; i++ {
			garbage(100, 1024)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func main() {
	if name := os.Getenv("GOALLOC_TRACE"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			panic(err)
		}
		if err := trace.Start(f); err != nil {
			panic(err)
		}
		defer func() { trace.Stop(); f.Close() }()
	}
	stop := goallocmetrics.Start(20 * time.Millisecond)
	defer stop()
	switch os.Args[1] {
	case "shrink":
		shrink()
	case "bursts":
		bursts()
	case "server":
		server()
	case "limit":
		limit()
	default:
		panic("unknown program " + os.Args[1])
	}
	time.Sleep(100 * time.Millisecond)
}
