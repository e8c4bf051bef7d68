// Command bench-vs-milvus is the load generator of `make bench-vs-milvus`: one workload, run through the official
// Milvus Go SDK (github.com/milvus-io/milvus/client/v2) against one server, with the server's CPU time per phase read
// from /proc/<pid>/stat of the given processes and all their descendants. test/bench/vs-milvus.ts starts the servers,
// runs this once per server and prints the comparison table; this program prints one JSON document on stdout.
//
//	bench-vs-milvus --address 127.0.0.1:19530 --pids 1234,5678 [--n 100000] [--dim 128] [--batch 5000]
//	    [--insert-concurrency 2] [--seconds 15] [--ef 64] [--recall-queries 100] [--smoke]
//
// Phases, in order: create the collection (id Int64 primary key, tag Int64 = id % max(n/1000, 10), vector FloatVector),
// insert n clustered vectors in batches, flush, build an HNSW index (M 16, efConstruction 200), load, then
// nq=1 search at 1/4/16 concurrent requests, nq=100 search at 4, filtered search (tag < 10) at 4 and query
// (tag == 7, 1,000 rows) at 4, each for --seconds; recall@10 is measured against exact brute force computed here.
// --smoke runs every operation once on a small collection and checks the answers (the Kite compatibility check).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

type options struct {
	address           string
	pids              []int
	n, dim, batch     int
	insertConcurrency int
	seconds           float64
	ef                int
	recallQueries     int
	smoke             bool
	collection        string
}

// Row is one measured line of the result: a throughput or a duration, latencies, and CPU seconds spent by the
// server processes and by this program while it ran.
type Row struct {
	Name       string  `json:"name"`
	Value      float64 `json:"value"`
	Unit       string  `json:"unit"`
	Requests   int     `json:"requests,omitempty"`
	P50Ms      float64 `json:"p50Ms,omitempty"`
	P99Ms      float64 `json:"p99Ms,omitempty"`
	ServerCPUs float64 `json:"serverCpuS"`
	ClientCPUs float64 `json:"clientCpuS"`
	// CPUPer is what the CPU is divided by: "request" (per request) or "1000 rows" (insert).
	CPUPer   string  `json:"cpuPer"`
	CPUUnits float64 `json:"cpuUnits"`
	Recall   float64 `json:"recall,omitempty"`
	Elapsed  float64 `json:"elapsedS"`
}

type Result struct {
	Address       string   `json:"address"`
	ServerVersion string   `json:"serverVersion"`
	N             int      `json:"n"`
	Dim           int      `json:"dim"`
	Rows          []Row    `json:"rows"`
	Recall        float64  `json:"recall"`
	Notes         []string `json:"notes"`
}

func main() {
	o := parseFlags()
	ctx := context.Background()
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-vs-milvus:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
}

func parseFlags() options {
	var o options
	var pids string
	flag.StringVar(&o.address, "address", "127.0.0.1:19530", "server address host:port")
	flag.StringVar(&pids, "pids", "", "comma-separated pids whose CPU (with all descendants) is the server's")
	flag.IntVar(&o.n, "n", 100_000, "rows to insert (a multiple of 1000)")
	flag.IntVar(&o.dim, "dim", 128, "vector dimension")
	flag.IntVar(&o.batch, "batch", 5_000, "rows per insert request")
	flag.IntVar(&o.insertConcurrency, "insert-concurrency", 2, "insert requests in flight")
	flag.Float64Var(&o.seconds, "seconds", 15, "duration of each search/query phase")
	flag.IntVar(&o.ef, "ef", 64, "HNSW ef at search time")
	flag.IntVar(&o.recallQueries, "recall-queries", 100, "queries checked against brute force")
	flag.BoolVar(&o.smoke, "smoke", false, "compatibility check: every operation once on a small collection")
	flag.StringVar(&o.collection, "collection", "", "collection name (default bench_vs_milvus_<unix time>)")
	flag.Parse()
	for _, p := range strings.Split(pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 {
			fail("--pids: %q is not a pid", p)
		}
		o.pids = append(o.pids, v)
	}
	if o.smoke {
		o.n, o.seconds, o.recallQueries = 2_000, 0, 20
		o.batch = 1_000
	}
	if o.n <= 0 || o.n%1000 != 0 {
		fail("--n must be a positive multiple of 1000, got %d", o.n)
	}
	if o.dim <= 0 || o.batch <= 0 || o.insertConcurrency <= 0 || o.ef <= 0 || o.recallQueries <= 0 {
		fail("--dim, --batch, --insert-concurrency, --ef and --recall-queries must be positive")
	}
	if o.collection == "" {
		o.collection = fmt.Sprintf("bench_vs_milvus_%d", time.Now().Unix())
	}
	return o
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-vs-milvus: "+format+"\n", args...)
	os.Exit(2)
}

// ---- data ----

type dataset struct {
	vectors [][]float32
	tags    []int64
	queries [][]float32
	truth   [][]int64 // exact top 10 of queries[i] (i < recallQueries)
	ftruth  [][]int64 // exact top 10 among tag < 10
}

const topK = 10

// tagOf spreads tags so that tag == 7 matches 1,000 rows from 10,000 rows up (fewer below, as in --smoke).
func tagOf(id, n int) int64 { return int64(id % max(n/1000, 10)) }

// makeData builds n vectors around 64 random centres (spread 0.3) and queries near random rows, from a fixed seed so
// every server gets the same data.
func makeData(o options) *dataset {
	r := rand.New(rand.NewSource(7))
	const centres = 64
	c := make([][]float32, centres)
	for i := range c {
		c[i] = make([]float32, o.dim)
		for d := range c[i] {
			c[i][d] = float32(r.Float64()*2 - 1)
		}
	}
	d := &dataset{vectors: make([][]float32, o.n), tags: make([]int64, o.n)}
	flat := make([]float32, o.n*o.dim)
	for i := 0; i < o.n; i++ {
		v := flat[i*o.dim : (i+1)*o.dim : (i+1)*o.dim]
		ctr := c[r.Intn(centres)]
		for k := range v {
			v[k] = ctr[k] + float32(r.NormFloat64()*0.3)
		}
		d.vectors[i] = v
		d.tags[i] = tagOf(i, o.n)
	}
	nq := 1000
	d.queries = make([][]float32, nq)
	for i := range d.queries {
		src := d.vectors[r.Intn(o.n)]
		q := make([]float32, o.dim)
		for k := range q {
			q[k] = src[k] + float32(r.NormFloat64()*0.1)
		}
		d.queries[i] = q
	}
	d.truth = make([][]int64, o.recallQueries)
	d.ftruth = make([][]int64, o.recallQueries)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i := 0; i < o.recallQueries; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			d.truth[i] = bruteForce(d, d.queries[i], func(int) bool { return true })
			d.ftruth[i] = bruteForce(d, d.queries[i], func(id int) bool { return d.tags[id] < 10 })
		}(i)
	}
	wg.Wait()
	return d
}

func bruteForce(d *dataset, q []float32, keep func(int) bool) []int64 {
	type hit struct {
		id   int
		dist float32
	}
	best := make([]hit, 0, topK+1)
	for id, v := range d.vectors {
		if !keep(id) {
			continue
		}
		var s float32
		for k := range v {
			x := v[k] - q[k]
			s += x * x
		}
		if len(best) == topK && s >= best[topK-1].dist {
			continue
		}
		best = append(best, hit{id, s})
		sort.Slice(best, func(a, b int) bool { return best[a].dist < best[b].dist })
		if len(best) > topK {
			best = best[:topK]
		}
	}
	out := make([]int64, len(best))
	for i, h := range best {
		out[i] = int64(h.id)
	}
	return out
}

func recallOf(got, want []int64) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[int64]bool, len(want))
	for _, id := range want {
		set[id] = true
	}
	hit := 0
	for _, id := range got {
		if set[id] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

// ---- CPU accounting ----

var clockTicks = 100.0 // USER_HZ; 100 on every Linux this runs on

// procCPU is utime+stime (seconds) of the given pids and all their descendants, from /proc/<pid>/stat.
func procCPU(roots []int) float64 {
	if len(roots) == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return math.NaN()
	}
	type stat struct {
		ppid int
		cpu  float64
	}
	all := map[int]stat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: fields start after the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		all[pid] = stat{ppid, (ut + st) / clockTicks}
	}
	in := map[int]bool{}
	for _, p := range roots {
		in[p] = true
	}
	// Descendants: repeat until no new child joins (process trees here are a few levels deep).
	for changed := true; changed; {
		changed = false
		for pid, s := range all {
			if !in[pid] && in[s.ppid] {
				in[pid] = true
				changed = true
			}
		}
	}
	total := 0.0
	for pid := range in {
		total += all[pid].cpu
	}
	return total
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

type meter struct {
	roots          []int
	start          time.Time
	server, client float64
}

func startMeter(roots []int) meter {
	return meter{roots: roots, start: time.Now(), server: procCPU(roots), client: selfCPU()}
}

func (m meter) stop(r *Row) {
	r.Elapsed = time.Since(m.start).Seconds()
	r.ServerCPUs = procCPU(m.roots) - m.server
	r.ClientCPUs = selfCPU() - m.client
}

// ---- workload ----

const (
	idField, tagField, vecField = "id", "tag", "vector"
)

func run(ctx context.Context, o options) (*Result, error) {
	t0 := time.Now()
	data := makeData(o)
	fmt.Fprintf(os.Stderr, "data: %d x %d, %d recall queries, brute force in %.1fs\n", o.n, o.dim, o.recallQueries, time.Since(t0).Seconds())

	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := milvusclient.New(cctx, &milvusclient.ClientConfig{Address: o.address})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.address, err)
	}
	defer c.Close(ctx)
	res := &Result{Address: o.address, N: o.n, Dim: o.dim}
	if v, err := c.GetServerVersion(ctx, milvusclient.NewGetServerVersionOption()); err == nil {
		res.ServerVersion = v
	} else {
		res.Notes = append(res.Notes, "GetServerVersion: "+err.Error())
	}

	name := o.collection
	_ = c.DropCollection(ctx, milvusclient.NewDropCollectionOption(name))
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName(idField).WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName(tagField).WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName(vecField).WithDataType(entity.FieldTypeFloatVector).WithDim(int64(o.dim)))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema).WithShardNum(1).
		WithConsistencyLevel(entity.ClBounded)); err != nil {
		return nil, fmt.Errorf("CreateCollection: %w", err)
	}
	defer func() { _ = c.DropCollection(context.Background(), milvusclient.NewDropCollectionOption(name)) }()

	// Insert.
	{
		row := Row{Name: fmt.Sprintf("insert (%d-row batches, %d in flight)", o.batch, o.insertConcurrency), Unit: "rows/s", CPUPer: "1000 rows"}
		var lat []float64
		var mu sync.Mutex
		var next atomic.Int64
		var firstErr error
		m := startMeter(o.pids)
		var wg sync.WaitGroup
		for w := 0; w < o.insertConcurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					start := int(next.Add(int64(o.batch))) - o.batch
					if start >= o.n {
						return
					}
					end := min(start+o.batch, o.n)
					ids := make([]int64, end-start)
					for i := range ids {
						ids[i] = int64(start + i)
					}
					t := time.Now()
					_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(name).
						WithInt64Column(idField, ids).WithInt64Column(tagField, data.tags[start:end]).
						WithFloatVectorColumn(vecField, o.dim, data.vectors[start:end]))
					mu.Lock()
					lat = append(lat, ms(time.Since(t)))
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("Insert rows %d..%d: %w", start, end, err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		m.stop(&row)
		if firstErr != nil {
			return nil, firstErr
		}
		row.Value = float64(o.n) / row.Elapsed
		row.Requests = len(lat)
		row.CPUUnits = float64(o.n) / 1000
		row.P50Ms, row.P99Ms = percentiles(lat)
		res.Rows = append(res.Rows, row)
		progress(row)
	}

	// Flush.
	if err := timed(res, o, "flush", func() error {
		task, err := c.Flush(ctx, milvusclient.NewFlushOption(name))
		if err != nil {
			return fmt.Errorf("Flush: %w", err)
		}
		return await(ctx, 10*time.Minute, task)
	}); err != nil {
		return nil, err
	}

	// HNSW index build.
	if err := timed(res, o, "HNSW index build (M 16, efConstruction 200)", func() error {
		task, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(name, vecField, index.NewHNSWIndex(entity.L2, 16, 200)))
		if err != nil {
			return fmt.Errorf("CreateIndex: %w", err)
		}
		return await(ctx, 60*time.Minute, task)
	}); err != nil {
		return nil, err
	}

	// Load.
	if err := timed(res, o, "load", func() error {
		task, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			return fmt.Errorf("LoadCollection: %w", err)
		}
		return await(ctx, 30*time.Minute, &task)
	}); err != nil {
		return nil, err
	}

	search := func(qs [][]float32, filter string) ([][]int64, error) {
		vecs := make([]entity.Vector, len(qs))
		for i, q := range qs {
			vecs[i] = entity.FloatVector(q)
		}
		// ef goes inside the "params" JSON (WithAnnParam). WithSearchParam("ef", ...) would send it as a top-level
		// search parameter, which Milvus 2.3.5 ignores without an error (it then searches with its default ef and
		// recall@10 drops to about 0.88 here), while Kite and newer Milvus read it.
		opt := milvusclient.NewSearchOption(name, topK, vecs).WithANNSField(vecField).
			WithConsistencyLevel(entity.ClBounded).WithAnnParam(index.NewHNSWAnnParam(o.ef))
		if filter != "" {
			opt = opt.WithFilter(filter)
		}
		rs, err := c.Search(ctx, opt)
		if err != nil {
			return nil, err
		}
		if len(rs) != len(qs) {
			return nil, fmt.Errorf("search with nq=%d returned %d result sets", len(qs), len(rs))
		}
		out := make([][]int64, len(rs))
		for i, r := range rs {
			if r.Err != nil {
				return nil, r.Err
			}
			ids, ok := r.IDs.(*column.ColumnInt64)
			if !ok {
				return nil, fmt.Errorf("search result ids are %T, want Int64", r.IDs)
			}
			out[i] = ids.Data()
		}
		return out, nil
	}

	// Recall (and warm-up): unfiltered and filtered, one query at a time.
	var sum, fsum float64
	for i := 0; i < o.recallQueries; i++ {
		got, err := search(data.queries[i:i+1], "")
		if err != nil {
			return nil, fmt.Errorf("Search (recall): %w", err)
		}
		sum += recallOf(got[0], data.truth[i])
		fgot, err := search(data.queries[i:i+1], tagField+" < 10")
		if err != nil {
			return nil, fmt.Errorf("Search tag < 10 (recall): %w", err)
		}
		for _, id := range fgot[0] {
			if data.tags[id] >= 10 {
				return nil, fmt.Errorf("search with filter tag < 10 returned id %d with tag %d", id, data.tags[id])
			}
		}
		fsum += recallOf(fgot[0], data.ftruth[i])
	}
	res.Recall = sum / float64(o.recallQueries)
	frecall := fsum / float64(o.recallQueries)
	fmt.Fprintf(os.Stderr, "recall@10 %.3f, filtered %.3f\n", res.Recall, frecall)

	// Query check.
	qrs, err := c.Query(ctx, milvusclient.NewQueryOption(name).WithFilter(tagField+" == 7").WithOutputFields(idField).
		WithConsistencyLevel(entity.ClBounded))
	if err != nil {
		return nil, fmt.Errorf("Query tag == 7: %w", err)
	}
	want7 := 0
	for _, t := range data.tags {
		if t == 7 {
			want7++
		}
	}
	if qrs.ResultCount != want7 {
		return nil, fmt.Errorf("query tag == 7 returned %d rows, want %d", qrs.ResultCount, want7)
	}
	if o.smoke {
		res.Rows = append(res.Rows, Row{Name: "recall@10 (ef " + strconv.Itoa(o.ef) + ")", Value: res.Recall, Unit: "", Recall: res.Recall})
		return res, nil
	}

	var qi atomic.Int64
	nextQuery := func(k int) [][]float32 {
		s := int(qi.Add(int64(k))-int64(k)) % (len(data.queries) - k)
		return data.queries[s : s+k]
	}
	for _, conc := range []int{1, 4, 16} {
		row := Row{Name: fmt.Sprintf("search nq=1, %d concurrent", conc), Unit: "QPS", Recall: res.Recall}
		if err := load(o, &row, conc, 1, func() error { _, err := search(nextQuery(1), ""); return err }); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, row)
	}
	{
		row := Row{Name: "search nq=100, 4 concurrent", Unit: "queries/s"}
		if err := load(o, &row, 4, 100, func() error { _, err := search(nextQuery(100), ""); return err }); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, row)
	}
	{
		row := Row{Name: "search tag < 10, nq=1, 4 concurrent", Unit: "QPS", Recall: frecall}
		if err := load(o, &row, 4, 1, func() error { _, err := search(nextQuery(1), tagField+" < 10"); return err }); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, row)
	}
	{
		row := Row{Name: "query tag == 7 (1,000 rows), 4 concurrent", Unit: "QPS"}
		if err := load(o, &row, 4, 1, func() error {
			rs, err := c.Query(ctx, milvusclient.NewQueryOption(name).WithFilter(tagField+" == 7").WithOutputFields(idField).
				WithConsistencyLevel(entity.ClBounded))
			if err == nil && rs.ResultCount != want7 {
				err = fmt.Errorf("query tag == 7 returned %d rows, want %d", rs.ResultCount, want7)
			}
			return err
		}); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// load runs `call` from `conc` goroutines for o.seconds and fills row: throughput (perCall units per call), p50/p99.
func load(o options, row *Row, conc, perCall int, call func() error) error {
	deadline := time.Now().Add(time.Duration(o.seconds * float64(time.Second)))
	lats := make([][]float64, conc)
	errs := make([]error, conc)
	m := startMeter(o.pids)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := call(); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], ms(time.Since(t)))
			}
		}(w)
	}
	wg.Wait()
	m.stop(row)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", row.Name, err)
	}
	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	row.Requests = len(all)
	row.Value = float64(len(all)*perCall) / row.Elapsed
	row.P50Ms, row.P99Ms = percentiles(all)
	row.CPUPer, row.CPUUnits = "request", float64(len(all))
	progress(*row)
	return nil
}

func timed(res *Result, o options, name string, f func() error) error {
	row := Row{Name: name, Unit: "s", CPUPer: "", CPUUnits: 0}
	m := startMeter(o.pids)
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.stop(&row)
	row.Value = row.Elapsed
	res.Rows = append(res.Rows, row)
	progress(row)
	return nil
}

// await waits for an SDK task (flush, index build, load) for at most d.
func await(ctx context.Context, d time.Duration, task interface{ Await(context.Context) error }) error {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return task.Await(c)
}

func progress(r Row) {
	fmt.Fprintf(os.Stderr, "%-45s %10.1f %-9s p50 %7.1f ms p99 %7.1f ms  server CPU %6.1fs  client CPU %6.1fs  (%.1fs)\n",
		r.Name, r.Value, r.Unit, r.P50Ms, r.P99Ms, r.ServerCPUs, r.ClientCPUs, r.Elapsed)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(v []float64) (p50, p99 float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return s[max(0, min(len(s)-1, i))]
	}
	return at(50), at(99)
}
