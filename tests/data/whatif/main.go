// Workloads for goalloc's what-if validation (issue #15, tests/test_whatif.py): each does a fixed
// amount of work, so runs under different GOGC / GOMEMLIMIT settings allocate the same objects,
// and prints what the runtime did as one JSON line on stdout.
// Usage: [GOALLOC_TRACE=OUT.trace GODEBUG=traceallocfree=1] ./whatif lru|builder|types
//
//	lru      two goroutines serving a shared LRU cache (about 10 MiB live) with 0.5-2.5 KiB values:
//	         a steady live heap under constant churn.
//	builder  two goroutines building maps of small structs with strings, keeping the last few
//	         maps: a live heap that rises and falls in steps.
//	types    one goroutine parsing and type-checking four standard-library packages from the
//	         toolchain's GOROOT source, over and over (go/types' BenchmarkCheck's shape, a
//	         compiler front end): their dependencies are checked once and stay live (~25 MiB),
//	         each round's syntax trees and type information are garbage a few rounds later.
//
// Every 256 operations the program reads runtime/metrics (no stop-the-world, no allocation) to
// track the peak in-use heap (objects + unused) and the peak of mapped-ready memory (total -
// released), what GOMEMLIMIT limits. At the end it prints the peaks, the GC cycle count and the
// GC CPU time over the workload (total - idle mark, as gctrace's percentage counts it).
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/trace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var names = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

type peaks struct {
	mu      sync.Mutex
	inuse   uint64
	mapped  uint64
	samples []metrics.Sample
}

func (p *peaks) sample() {
	p.mu.Lock()
	metrics.Read(p.samples[:4])
	inuse := p.samples[0].Value.Uint64() + p.samples[1].Value.Uint64()
	mapped := p.samples[2].Value.Uint64() - p.samples[3].Value.Uint64()
	if inuse > p.inuse {
		p.inuse = inuse
	}
	if mapped > p.mapped {
		p.mapped = mapped
	}
	p.mu.Unlock()
}

type entry struct {
	key        int
	val        []byte
	prev, next *entry
}

type lru struct {
	mu         sync.Mutex
	m          map[int]*entry
	head, tail *entry
	bytes, max int
}

func (c *lru) put(k int, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.bytes += len(v) - len(e.val)
		e.val = v
		c.unlink(e)
		c.front(e)
	} else {
		e := &entry{key: k, val: v}
		c.m[k] = e
		c.front(e)
		c.bytes += len(v)
	}
	for c.bytes > c.max && c.tail != nil {
		e := c.tail
		c.unlink(e)
		delete(c.m, e.key)
		c.bytes -= len(e.val)
	}
}

func (c *lru) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *lru) front(e *entry) {
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func runLRU(p *peaks) {
	c := &lru{m: map[int]*entry{}, max: 10 << 20}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			x := uint32(w*7919 + 1)
			for i := 0; i < 200_000; i++ {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				c.put(int(x%30_000), make([]byte, 512+int(x>>20)%2048))
				if i%256 == 0 {
					p.sample()
				}
			}
		}(w)
	}
	wg.Wait()
}

type rec struct {
	id      int
	name    string
	tags    [2]string
	score   float64
	next    *rec
	payload [24]int64
}

func runBuilder(p *peaks) {
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var kept []map[string]*rec
			buf := make([]byte, 0, 64)
			for round := 0; round < 120; round++ {
				m := make(map[string]*rec)
				var prev *rec
				for i := 0; i < 3_000+(round%5)*600; i++ {
					buf = strconv.AppendInt(append(strconv.AppendInt(buf[:0], int64(w*1000+round), 10), '/'), int64(i), 10)
					k := string(buf)
					r := &rec{id: i, name: k, score: float64(i), next: prev}
					r.tags[0] = k[:len(k)/2]
					m[k] = r
					prev = r
					if i%256 == 0 {
						p.sample()
					}
				}
				kept = append(kept, m)
				if len(kept) > 1+round%4 {
					kept = kept[len(kept)-1-round%3:]
				}
			}
			runtime.KeepAlive(kept)
		}(w)
	}
	wg.Wait()
}

// runTypes type-checks the same packages round after round with one source importer: the
// importer's packages (the standard library below them, checked at the first round) stay live,
// each round's files and types.Info are kept for the next round. A goroutine samples the peaks
// every 200 us: the checker offers no hook to sample from inline.
func runTypes(p *peaks) {
	var done atomic.Bool
	sampled := make(chan struct{})
	go func() {
		for !done.Load() {
			p.sample()
			time.Sleep(200 * time.Microsecond)
		}
		close(sampled)
	}()
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil).(types.ImporterFrom)
	var kept []*types.Info
	for round := 0; round < 6; round++ {
		for _, path := range []string{"go/parser", "go/printer", "go/constant", "text/template/parse"} {
			bp, err := build.Import(path, "", 0)
			if err != nil {
				panic(err)
			}
			var files []*ast.File
			for _, name := range bp.GoFiles {
				f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments)
				if err != nil {
					panic(err)
				}
				files = append(files, f)
			}
			info := &types.Info{
				Types: map[ast.Expr]types.TypeAndValue{},
				Defs:  map[*ast.Ident]types.Object{},
				Uses:  map[*ast.Ident]types.Object{},
			}
			conf := types.Config{Importer: imp}
			if _, err := conf.Check(path, fset, files, info); err != nil {
				panic(err)
			}
			kept = append(kept, info)
			if len(kept) > 4 {
				kept = kept[1:]
			}
		}
	}
	runtime.KeepAlive(kept)
	done.Store(true)
	<-sampled
}

func main() {
	if path := os.Getenv("GOALLOC_TRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			panic(err)
		}
		if err := trace.Start(f); err != nil {
			panic(err)
		}
		defer func() {
			trace.Stop()
			f.Close()
		}()
	}
	p := &peaks{samples: make([]metrics.Sample, len(names))}
	for i, n := range names {
		p.samples[i].Name = n
	}
	before := make([]metrics.Sample, len(names))
	copy(before, p.samples)
	metrics.Read(before)
	switch os.Args[1] {
	case "lru":
		runLRU(p)
	case "builder":
		runBuilder(p)
	case "types":
		runTypes(p)
	default:
		fmt.Fprintln(os.Stderr, "usage: whatif lru|builder|types")
		os.Exit(2)
	}
	after := make([]metrics.Sample, len(names))
	copy(after, p.samples)
	metrics.Read(after)
	f := func(s []metrics.Sample, i int) float64 { return s[i].Value.Float64() }
	gc := (f(after, 5) - f(before, 5)) - (f(after, 6) - f(before, 6))
	out := map[string]any{
		"peak_inuse":     p.inuse,
		"peak_mapped":    p.mapped,
		"cycles":         after[4].Value.Uint64() - before[4].Value.Uint64(),
		"gc_cpu_seconds": gc,
		"cpu_seconds":    f(after, 7) - f(before, 7),
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
