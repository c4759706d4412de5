// Tiny allocation workload for goalloc's gotrace importer tests (tests/data/README-gotrace.md).
// Usage: GODEBUG=traceallocfree=1 GOMAXPROCS=2 ./tiny OUT.trace [pause-ms]
// Two goroutines allocate small pointerful, pointer-free, malloc-header (640 B pointerful) and
// large objects in three rounds with a forced GC after each; the pauses between rounds
// (default 600 ms) make the trace cross a generation boundary.
package main

import (
	"os"
	"runtime"
	"runtime/trace"
	"strconv"
	"sync"
	"time"
)

type node struct {
	next *node
	val  [5]int64
}

type big struct {
	ptrs [80]*node // 640 B, pointerful: allocated after an 8 B malloc header
}

var sink []any

func work(n int, wg *sync.WaitGroup) {
	defer wg.Done()
	keep := make([]any, 0, 64)
	for i := 0; i < n; i++ {
		keep = append(keep, &node{val: [5]int64{int64(i)}})
		keep = append(keep, make([]byte, 100+i%300))
		if i%4 == 0 {
			keep = append(keep, &big{})
		}
		if i%200 == 0 {
			keep = append(keep, make([]*node, 5000)) // large, pointerful
		}
		if len(keep) > 60 {
			keep = keep[:0]
		}
	}
	sink = append(sink[:0], keep...)
}

func main() {
	pause := 600
	if len(os.Args) > 2 {
		pause, _ = strconv.Atoi(os.Args[2])
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go work(700, &wg)
		}
		wg.Wait()
		runtime.GC()
		if round < 2 {
			time.Sleep(time.Duration(pause) * time.Millisecond) // cross a generation boundary
		}
	}
	trace.Stop()
	f.Close()
}
