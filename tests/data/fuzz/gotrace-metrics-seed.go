// Fuzz seed with runtime/metrics samples (tests/data/fuzz/README.md): the allocation workload
// of gotrace-seed.go plus goallocmetrics samples (trace.Log, category goalloc.metrics) at the
// start, after the forced GC and at the end, so the importer's metric-sample path and the
// per-class --validate over time are fuzzed.
package main

import (
	"os"
	"runtime"
	"runtime/trace"
	"time"

	"seed/goallocmetrics"
)

type node struct {
	next *node
	val  [3]int64
}

var sink []any

func main() {
	f, _ := os.Create(os.Args[1])
	trace.Start(f)
	stop := goallocmetrics.Start(time.Hour) // one sample now, one at stop
	keep := make([]any, 0, 16)
	for i := 0; i < 80; i++ {
		keep = append(keep, &node{val: [3]int64{int64(i)}})
		keep = append(keep, make([]byte, 40+i%200))
		if i%40 == 0 {
			keep = append(keep, make([]*node, 5000))
		}
		if len(keep) > 12 {
			keep = keep[:0]
		}
	}
	sink = keep
	runtime.GC()
	stop()
	trace.Stop()
	f.Close()
}
