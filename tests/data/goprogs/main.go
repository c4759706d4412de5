// Workloads goalloc's end-to-end tests record with every Go toolchain (tests/test_go_releases.py).
// Usage: GOALLOC_TRACE=OUT.trace GODEBUG=traceallocfree=1 ./goprogs multi|wide|long
//
//	multi  four goroutines on GOMAXPROCS 4 building and dropping maps, strings (many tiny),
//	       pointerful nodes, byte slices and an occasional large buffer, 60 rounds each:
//	       heap-triggered cycles started from every size path, on several Ps at once (more
//	       Ps than CPUs on a 2-CPU machine: the OS time-slices them).
//	wide   the same four goroutines for 600 rounds on as many Ps as there are CPUs (at most
//	       4): 40-55 cycles on 2 CPUs, so pacer mode is judged where one cycle is 2%.
//	long   one goroutine keeping a churning working set for about 3.5 s with short sleeps,
//	       so the execution trace spans four or more generations (the runtime starts a new
//	       one about every second); larger byte slices give it 20 or more cycles, so one
//	       cycle more or less in pacer mode is within 5%.
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
	key  string
	val  [3]int64
}

var sink [][]byte

func churn(id, rounds, per, scale int, until time.Time, sleep bool, wg *sync.WaitGroup) {
	defer wg.Done()
	live := make([]*node, 0, 4096)
	m := map[string][]byte{}
	i := 0
	for r := 0; r < rounds && time.Now().Before(until); r++ {
		for j := 0; j < per; j++ {
			i++
			n := &node{key: strconv.Itoa(i), val: [3]int64{int64(i)}}
			if len(live) < cap(live) {
				live = append(live, n)
			} else {
				live[(i*7919)%len(live)] = n
			}
			m[n.key[len(n.key)/2:]] = make([]byte, 24+(i%57)*scale)
			if len(m) > 3000 {
				m = map[string][]byte{}
			}
			if i%1500 == id {
				sink = append(sink, make([]byte, 64<<10+(i%5)*100_000))
				if len(sink) > 6 {
					sink = sink[1:]
				}
			}
		}
		if sleep {
			time.Sleep(2 * time.Millisecond)
		}
	}
	runtime.KeepAlive(live)
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
	var wg sync.WaitGroup
	switch os.Args[1] {
	case "multi":
		runtime.GOMAXPROCS(4)
		until := time.Now().Add(time.Minute)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go churn(g, 60, 400, 8, until, false, &wg)
		}
	case "wide":
		runtime.GOMAXPROCS(min(4, runtime.NumCPU()))
		until := time.Now().Add(time.Minute)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go churn(g, 600, 400, 8, until, false, &wg)
		}
	case "long":
		wg.Add(1)
		go churn(0, 1<<30, 60, 48, time.Now().Add(3500*time.Millisecond), true, &wg)
	default:
		panic("usage: goprogs multi|wide|long")
	}
	wg.Wait()
}
