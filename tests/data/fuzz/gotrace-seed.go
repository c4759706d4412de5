// Smallest allocation workload for goalloc's fuzz seed (tests/data/README-fuzz.md).
package main

import (
	"os"
	"runtime"
	"runtime/trace"
)

type node struct {
	next *node
	val  [3]int64
}

var sink []any

func main() {
	f, _ := os.Create(os.Args[1])
	trace.Start(f)
	keep := make([]any, 0, 16)
	for i := 0; i < 120; i++ {
		keep = append(keep, &node{val: [3]int64{int64(i)}})
		keep = append(keep, make([]byte, 40+i%200))
		if i%60 == 0 {
			keep = append(keep, make([]*node, 5000))
		}
		if len(keep) > 12 {
			keep = keep[:0]
		}
	}
	sink = keep
	runtime.GC()
	trace.Stop()
	f.Close()
}
