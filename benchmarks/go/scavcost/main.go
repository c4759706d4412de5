// Command scavcost measures what the Go runtime's background scavenger spends per 64 KiB
// quantum on this machine, by the runtime's own clock: it allocates 256 MiB of objects of
// the given size (touching every 4 KiB page, as a program that writes its memory does),
// drops them (with -keep K, all but every K-th: with 8 KiB objects, one per 8 KiB span, K=2
// leaves free runs of one runtime page, so each madvise call releases two physical pages),
// runs two GCs so the pages are free and visible to the scavenger, sleeps while
// the background scavenger (runtime/mgcscavenge.go, 64 KiB per madvise at most) releases,
// then reads /cpu/classes/scavenge/background:cpu-seconds (scavenge.backgroundTime: the
// timed madvise work; the CPU classes are brought up to date at each GC) and
// /memory/classes/heap/released:bytes. With -churn N a goroutine allocates N-byte objects,
// writing one byte per 4 KiB page, while the scavenger works, as a program that goes on
// working does (-ring: the bytes of them kept live, 4 MiB by default, which sets the GC cycle
// rate; -pace K: a 2 ms sleep after every K allocations): the round then also reports
// /sync/mutex/wait/total:seconds (lock waits of every goroutine, runtime-internal locks
// included) and the GC cycles run. One JSON line per round. benchmarks/bench_scavcost.py
// builds and runs it.
package main

import (
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

var keep [][]byte

func read() (uint64, float64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/cpu/classes/scavenge/background:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Float64()
}

func lockWaitAndCycles() (float64, uint64) {
	s := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Float64(), s[1].Value.Uint64()
}

// churn allocates size-byte objects (one byte written per 4 KiB page) until stop is set,
// keeping the last ringBytes of them, sleeping 2 ms after every pace allocations (0: never).
func churn(size, ringBytes, pace int, stop *atomic.Bool) {
	ring := make([][]byte, max(ringBytes/size, 1))
	for i := 1; !stop.Load(); i++ {
		b := make([]byte, size)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		ring[i%len(ring)] = b
		if pace > 0 && i%pace == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func main() {
	size := flag.Int("size", 64<<10, "object size, bytes")
	rounds := flag.Int("rounds", 3, "rounds")
	sleep := flag.Duration("sleep", 4*time.Second, "how long the scavenger works each round")
	keepEvery := flag.Int("keep", 0, "keep every K-th object (0: none)")
	churnSize := flag.Int("churn", 0, "a goroutine allocates objects of this size while the "+
		"scavenger works (0: the program sleeps)")
	ringBytes := flag.Int("ring", 4<<20, "bytes of churned objects kept live")
	pace := flag.Int("pace", 0, "churn sleeps 2 ms after this many allocations (0: never)")
	flag.Parse()
	enc := json.NewEncoder(os.Stdout)
	var kept [][]byte
	for round := 0; round < *rounds; round++ {
		kept = nil
		for total := 0; total < 256<<20; total += *size {
			b := make([]byte, *size)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		for i, b := range keep {
			if *keepEvery > 0 && i%*keepEvery == 0 {
				kept = append(kept, b)
			}
		}
		keep = nil
		runtime.GC()
		runtime.GC()
		r0, c0 := read()
		w0, g0 := lockWaitAndCycles()
		var stop atomic.Bool
		done := make(chan struct{})
		if *churnSize > 0 {
			go func() { churn(*churnSize, *ringBytes, *pace, &stop); close(done) }()
		} else {
			close(done)
		}
		time.Sleep(*sleep)
		stop.Store(true)
		<-done
		runtime.GC()
		r1, c1 := read()
		w1, g1 := lockWaitAndCycles()
		enc.Encode(map[string]any{"size": *size, "keep": *keepEvery, "kept": len(kept),
			"churn": *churnSize, "released_bytes": r1 - r0,
			"background_ns": int64((c1 - c0) * 1e9), "lock_wait_ns": int64((w1 - w0) * 1e9),
			"gc_cycles": g1 - g0})
	}
}
