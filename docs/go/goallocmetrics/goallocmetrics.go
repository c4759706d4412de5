// Package goallocmetrics writes runtime/metrics samples into a Go execution trace, so that
// `goalloc replay --validate` can compare the model's memory classes (objects, unused, free,
// released) with the runtime's over time (goalloc docs/importers.md, "Metric samples").
//
// Each sample is one trace.Log record of category "goalloc.metrics" whose message is a JSON
// object of runtime/metrics names to values, read together by one metrics.Read, and
// "goalloc.read_age_ns", how long before the record the read returned (goalloc places the
// sample there):
//
//	{"/memory/classes/heap/objects:bytes":1234,...,"goalloc.read_age_ns":2710}
//
// Use, after trace.Start (goalloc record sets GOALLOC_TRACE for a program that starts its own
// trace, see docs/importers.md):
//
//	stop := goallocmetrics.Start(20 * time.Millisecond)
//	defer stop()
//
// Copy this file into your module (it needs nothing outside the standard library). Logging
// costs one metrics.Read (no stop-the-world) per sample and allocates nothing between the read
// and the record: an allocation there can make this goroutine sweep (the runtime's
// proportional sweep runs in mallocgc), and its events would stand between the goroutine's
// wake-up, where goalloc places the sample, and the read.
package goallocmetrics

import (
	"context"
	"runtime/metrics"
	"runtime/trace"
	"strconv"
	"time"
	"unsafe"
)

// Category is the trace.Log category goalloc's Go importer keeps.
const Category = "goalloc.metrics"

// readAgainAfter: a sample whose read and formatting took longer is read again (a few
// microseconds is usual; a goroutine suspended for a stack scan was away ~100 us in a Go 1.23
// recording, while another P allocated 72 KiB that the first read had not seen).
const readAgainAfter = 50 * time.Microsecond

// Names are the values logged: the names goalloc's trace format knows
// (goalloc/trace/format.py METRIC_NAMES); others would be left out on import.
var Names = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/gc/gomemlimit:bytes",
}

// Start logs a sample now and then every interval on a goroutine of its own. The returned
// stop logs a last sample and returns once the goroutine has ended; call it before
// trace.Stop.
func Start(interval time.Duration) (stop func()) {
	samples := make([]metrics.Sample, len(Names))
	for i, n := range Names {
		samples[i].Name = n
	}
	buf := make([]byte, 0, 1024) // ~500 bytes used: appends never grow it
	logOne := func() {
		// goalloc compares a sample with the model where it was read: the record says how
		// long before it that was (the OS may deschedule this goroutine's thread between its
		// wake-up and the read, and nothing traced shows it). A read and its formatting take
		// some microseconds; if they took longer, this goroutine lost its CPU meanwhile
		// (preempted, or suspended for the GC's stack scan: other goroutines may have
		// allocated megabytes), so read again.
		var read time.Time
		for try := 0; try < 4; try++ {
			start := time.Now()
			read = fill(samples, &buf)
			if time.Since(start) < readAgainAfter {
				break
			}
		}
		b := append(buf[:len(buf)-1], `,"goalloc.read_age_ns":`...)
		b = strconv.AppendInt(b, int64(time.Since(read)), 10)
		buf = append(b, '}')
		// the message without a copy: string(buf) would allocate after the read (see the
		// package comment); trace.Log copies it into the trace before buf is reused
		trace.Log(context.Background(), Category, unsafe.String(unsafe.SliceData(buf), len(buf)))
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		logOne()
		for {
			select {
			case <-t.C:
				logOne()
			case <-done:
				logOne()
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// fill reads the samples and writes them into *buf as a JSON object; it returns when the
// read returned (the values are taken inside metrics.Read, the first call of which sets up
// runtime/metrics first, allocating: so the end of the read, not its start, is when).
func fill(samples []metrics.Sample, buf *[]byte) time.Time {
	metrics.Read(samples)
	read := time.Now()
	b := append((*buf)[:0], '{')
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			continue // a name this Go release does not have
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s.Name)
		b = append(b, ':')
		b = strconv.AppendUint(b, s.Value.Uint64(), 10)
	}
	*buf = append(b, '}')
	return read
}
